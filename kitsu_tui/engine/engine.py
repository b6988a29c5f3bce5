"""The headless asyncio engine: composes the show's parts, runs their lifecycle, and is its command API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from kitsu_tui.audio.base import AudioInput, AudioOutput
from kitsu_tui.backends.base import Backends, LanguageAware, TtsBackend
from kitsu_tui.backends.factory import asr_language, language_warnings
from kitsu_tui.config.persona import Persona, load_persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.admission import Admission
from kitsu_tui.engine.api import Analyzer, Memory, Moderator
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.controls import ShowControls
from kitsu_tui.engine.conversation import Conversation
from kitsu_tui.engine.events import (
    Event,
    ModerationDecided,
    ModuleState,
    PersonaChanged,
    PipelineState,
    StageError,
)
from kitsu_tui.engine.flow import TurnFlow
from kitsu_tui.engine.heap import cap_arenas, trim_while_quiet
from kitsu_tui.engine.hold import PreAirHold
from kitsu_tui.engine.idle import IdleTalk
from kitsu_tui.engine.listener import Listener
from kitsu_tui.engine.llmhealth import LlmHealth
from kitsu_tui.engine.loading import Workers, load_models
from kitsu_tui.engine.modules import ModuleRegistry
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.recorder import ReplyRecorder
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.state import ShowState

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 3.0
"""The longest Engine.stop takes: the CLI's exits promise 5 s from the signal to the process's end."""


class Engine(ShowControls):
    """Runs the live show headlessly; every consumer reads `bus`, every command goes through its methods."""

    def __init__(self, settings: Settings, persona: Persona, backends: Backends, output: AudioOutput,
                 inputs: list[AudioInput] | None = None, moderator: Moderator | None = None,
                 memory: Memory | None = None, analyzer: Analyzer | None = None) -> None:
        cap_arenas()  # before the worker threads exist: each would otherwise grow an arena of its own
        self.settings = settings
        self.persona = persona
        self.backends = backends
        self.inputs = list(inputs or [])
        self.workers = Workers.create(settings.tts.workers)
        self.tts_factory: Callable[[Persona], TtsBackend] | None = None
        """Builds the TTS for a persona's voice (set by bootstrap) so persona switches change voice."""
        bus = EventBus()
        show = ShowState(bus.emit, persona.family_friendly)
        player = Player(output, self._from_player, analyzer)
        player.report_to(show.set_module_state, show.notice)
        health = LlmHealth(show, settings.llm.fail_after, probe_first_s=settings.llm.retry_first_s,
                           probe_max_s=settings.llm.retry_max_s)
        queue = TurnQueue(bus.emit, player, settings.engine.max_pending_turns, health)
        admission = Admission(settings, show, queue, moderator, self._persona, bus.emit)
        super().__init__(bus, show, player, queue, admission, ModuleRegistry(show, bus.emit, self.spawn),
                         PreAirHold(settings.hold, bus.emit))
        self.conversation = Conversation(settings, self._persona, backends, self.workers.llm, self.workers.io,
                                         self.emit, lambda: self.show.module_on("llm"), self.queue.llm_in_use)
        self.conversation.memory = memory
        self.idle = IdleTalk(self._persona, self.show, self.queue, self.player, self.submit_text)
        self.recorder = ReplyRecorder(settings.audio.record_dir, self.workers.io)
        parts = TurnContext(settings, persona, backends, self.workers.llm, self.workers.tts, self.player, self.hold,
                            moderator, self.conversation, self.show, self.recorder, self.emit, self.spawn, frozenset(),
                            health)
        self.flow = TurnFlow(parts, self._persona, self.queue)
        self.bus.add_listener(self.queue.observe)
        self.bus.add_listener(self.idle.observe)
        self.bus.add_listener(self.admission.observe)
        self.bus.add_listener(_log_moderation)
        self._prefills: set[asyncio.Task[int]] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.listen_tasks: list[asyncio.Task[Any]] = []

    def _persona(self) -> Persona:
        return self.persona

    @property
    def has_microphone(self) -> bool:
        """The show listens to a microphone (or a WAV input)."""
        return bool(self.inputs)

    @property
    def memory(self) -> Memory | None:
        """The long-term memory, once its module has opened it."""
        return self.conversation.memory

    @memory.setter
    def memory(self, memory: Memory | None) -> None:
        """Hand the conversation its memory (the memory module does, once the store is open)."""
        self.conversation.memory = memory

    # --- lifecycle -------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start a long-lived task whose handle the engine keeps (and cancels on stop)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %s died: %s", task.get_name(), exc, exc_info=exc)
            self.emit(StageError(stage=task.get_name(), message=str(exc)))

    async def start(self, wait_loaded: bool = True) -> None:
        """Start playback, load models (in their threads), then listen to the inputs and run turns."""
        try:
            self.player.start()
            self.set_module_state("speaker", ModuleState.ON, self.player.output.name)
        except Exception as exc:
            self.set_module_state("speaker", ModuleState.ERROR, str(exc))
            self.notice("error", f"audio output unavailable: {exc}")
            raise
        loader = self.spawn(self._load_models(), "kitsu-load")
        self.spawn(self._run_turns(), "kitsu-turns")
        self.spawn(self._idle_talk(), "kitsu-idle")
        self.spawn(self.flow.parts.llm_health.recover(self._probe_llm), "kitsu-llm-probe")
        self.spawn(trim_while_quiet(lambda: not (self.queue.busy or self.player.busy)), "kitsu-heap-trim")
        if wait_loaded:
            await loader

    async def _load_models(self) -> None:
        self.show.announce(PipelineState.LOADING)
        await load_models(self.backends, self.workers, self.show, self.conversation)
        self.loaded.set()
        self.refresh_state()
        for source in self.inputs:
            self.listen_tasks.append(self.spawn(self._listen(source), f"kitsu-listen-{source.name}"))

    async def _listen(self, source: AudioInput) -> None:
        admission = self.admission
        listener = Listener(
            self.backends.vad, self.backends.asr, self.workers.vad, self.workers.asr, self.settings.vad,
            self.settings.asr, self.emit, admission.on_utterance, self.persona.asr_hotwords, self._listening,
            on_tentative=admission.on_tentative, on_tentative_cancelled=admission.on_tentative_cancelled,
            turn_model=self.backends.turn, on_continuation=admission.on_continuation, hold_floor=admission.hold_floor,
            join_window_ms=self.settings.engine.join_window_ms, sentence_model=self.backends.sentence,
            on_partial=self._prefill_partial,
        )
        self.set_module_state("mic", ModuleState.ON, source.name)
        try:
            await listener.run(source)
        except Exception as exc:
            log.exception("input %s failed", source.name)
            self.set_module_state("mic", ModuleState.ERROR, str(exc))
            self.notice("error", f"microphone: {exc}")

    def _prefill_partial(self, text: str) -> None:
        """A partial transcript heard while the person still talks and no turn runs: read into the LLM's cache
        ahead of the reply (never once silence began: then the early transcript's reply needs the cores)."""
        if self.settings.engine.prefill_partials and not self.queue.busy and not self.show.panicked:
            task = asyncio.get_running_loop().create_task(self.conversation.prefill(text))
            self._prefills.add(task)
            task.add_done_callback(self._prefills.discard)

    def _listening(self) -> bool:
        show = self.show
        return show.module_on("asr") and show.module_on("vad") and not (show.muted or show.paused or show.panicked)

    async def _idle_talk(self) -> None:
        await self.loaded.wait()
        await self.idle.run()

    async def _probe_llm(self) -> bool:
        """Ask the LLM, on its worker thread, whether it answers again (the failing module's recovery)."""
        return await self.workers.llm.call(self.backends.llm.probe)

    async def _run_turns(self) -> None:
        await self.loaded.wait()
        await self.flow.run(self.refresh_state)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop turns and tasks, then modules (memory last used by them), inputs, playback and worker threads.

        Bounded by `timeout_s`: a model call that cannot be stopped (an LLM warm-up) is left to its daemon thread.
        """
        deadline = time.monotonic() + timeout_s
        self.queue.refuse_waiting("the show stopped while the llm was failing")
        self.interrupt("shutdown")
        for source in self.inputs:
            with contextlib.suppress(Exception):
                source.close()
        for _ in range(5):  # a task ending may spawn another (a warm-up after its turn): cancel those too
            tasks = list(self._tasks)
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=max(0.1, (deadline - time.monotonic()) / 3))
        await self.registry.stop_all(max(0.5, (deadline - time.monotonic()) / 2))
        await self.player.close()
        if self.memory is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.memory.close(), max(0.2, deadline - time.monotonic()))
        if not await self.workers.close(max(0.2, deadline - time.monotonic())):
            log.info("a model call was still running at shutdown; its thread is left behind (daemon)")
        self.show.announce(PipelineState.STOPPED)

    async def wait_loaded(self) -> None:
        """Return once every model finished loading (or failed)."""
        await self.loaded.wait()

    async def wait_inputs_done(self) -> None:
        """Return once every audio input (e.g. WAV files) has ended."""
        await self.loaded.wait()
        await asyncio.gather(*self.listen_tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Return once no turn is running or waiting."""
        await self.queue.wait_idle()

    def llm_in_use(self) -> bool:
        """A turn is generating or waiting for the LLM."""
        return self.queue.llm_in_use()

    async def toggle_module(self, name: str, on: bool) -> None:
        """Really start or stop a module; core asr/llm/tts toggles stop using that stage."""
        await self.registry.toggle(name, on, self, lambda: self.interrupt("llm turned off"))

    async def switch_persona(self, name: str) -> None:
        """Load and switch persona; a broken file raises ConfigError and keeps the current one."""
        persona = await self.workers.io.call(load_persona, self.settings.paths.personas_dir, name)
        persona.build_system_prompt(self.settings.paths.prompts_dir)  # validate prompt parts now
        old, new = self.persona.voice, persona.voice
        if (old.backend, old.model, old.speaker) != (new.backend, new.model, new.speaker) and self.tts_factory:
            tts = self.tts_factory(persona)
            await self.workers.tts.call(tts.load)  # a voice that fails to load keeps the old persona
            self.backends.tts = tts
        if isinstance(self.backends.asr, LanguageAware):
            await self.workers.asr.call(self.backends.asr.set_language, asr_language(self.settings.asr, persona))
        for warning in language_warnings(self.settings, persona):
            self.notice("warning", warning)
        self.persona = persona
        self.show.family_friendly = persona.family_friendly
        self.conversation.restart()
        self.emit(PersonaChanged(name=persona.name, display_name=persona.shown_name))
        if self.module_on("llm"):
            await self.conversation.warm()


def _log_moderation(event: Event) -> None:
    """Bus listener: every refusal or review goes to the log (by hash, with the rule)."""
    if isinstance(event, ModerationDecided) and event.action != "allow":
        log.info("moderation %s %s: rule=%s turn=%s hash=%s (%s)", event.stage, event.action, event.rule,
                 event.turn_id, event.text_hash, event.detail)
