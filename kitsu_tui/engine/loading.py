"""Bringing the models up: each loads on its own worker thread, and a failure only marks that stage in error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kitsu_tui.backends.base import BackendError, Backends
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.engine.conversation import Conversation
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.engine.state import ShowState

log = logging.getLogger(__name__)

LOAD_ORDER = ("vad", "tts", "llm", "asr")
"""VAD and TTS are quick; the LLM's warm-up then runs while Whisper loads last."""


@dataclass(frozen=True)
class Workers:
    """One single-thread executor per model, plus one for blocking file work."""

    vad: ModelWorker
    asr: ModelWorker
    llm: ModelWorker
    tts: ModelWorker
    io: ModelWorker

    @classmethod
    def create(cls, tts_threads: int) -> Workers:
        """The engine's workers (ASR gets two threads: partials never delay the final transcript)."""
        return cls(ModelWorker("vad"), ModelWorker("asr", threads=2), ModelWorker("llm"),
                   ModelWorker("tts", threads=tts_threads), ModelWorker("io"))

    async def close(self, timeout_s: float = 2.0) -> bool:
        """Stop every thread, waiting at most `timeout_s` for running calls; False when one was still busy."""
        workers = (self.vad, self.asr, self.llm, self.tts, self.io)
        return all(await asyncio.gather(*(worker.close(timeout_s) for worker in workers)))


async def load_models(backends: Backends, workers: Workers, show: ShowState, conversation: Conversation) -> None:
    """Load each model on its worker, reporting each stage's state; the LLM's cache is warmed once it loads."""
    stages: dict[str, tuple[ModelWorker, Callable[[], None]]] = {
        "vad": (workers.vad, backends.vad.load), "asr": (workers.asr, backends.asr.load),
        "llm": (workers.llm, backends.llm.load), "tts": (workers.tts, backends.tts.load),
    }
    for name in LOAD_ORDER:
        worker, load = stages[name]
        show.set_module_state(name, ModuleState.LOADING)
        started = time.monotonic()
        try:
            await worker.call(load)
            if name == "llm":  # fill the cache with the summaries restored from the last session
                await conversation.refresh_notes("")
                await workers.llm.call(backends.llm.warm, await conversation.conversation())
            if name == "vad":
                await load_turn_model(backends, workers, show)
            show.set_module_state(name, ModuleState.ON, f"loaded in {time.monotonic() - started:.1f}s")
        except Exception as exc:
            if isinstance(exc, BackendError):
                log.error("%s failed to load: %s", name, exc)
            else:
                log.exception("%s failed to load", name)
            show.set_module_state(name, ModuleState.ERROR, str(exc))
            show.notice("error", f"{name}: {exc}")


async def load_turn_model(backends: Backends, workers: Workers, show: ShowState) -> None:
    """Load the end-of-turn models on the VAD's thread; when one cannot load, the transcript decides alone."""
    if backends.turn is not None and not await _loaded(backends.turn.load, workers, show, "smart-turn"):
        backends.turn = None
    if backends.sentence is not None and not await _loaded(backends.sentence.load, workers, show, "sentence"):
        backends.sentence = None


async def _loaded(load: Callable[[], None], workers: Workers, show: ShowState, rule: str) -> bool:
    """Run one end-of-turn model's load; a failure is one warning and the rule falls back to punctuation."""
    try:
        await workers.vad.call(load)
    except Exception as exc:
        log.error("%s endpointing model failed to load: %s", rule, exc)
        show.notice("warning", f"{rule} endpointing off (the transcript's punctuation decides): {exc}")
        return False
    return True
