"""Fixtures for engine tests: an Engine on fake backends, a real-time null output, and event capture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event

ROOT = Path(__file__).resolve().parents[2]


def make_settings(**engine: Any) -> Settings:
    """Settings pointing at the repo's personas/prompts, with engine overrides."""
    changes: dict[str, Any] = {"paths.personas_dir": ROOT / "personas", "paths.prompts_dir": ROOT / "prompts"}
    changes.update({f"engine.{key}": value for key, value in engine.items()})
    return Settings().with_values(changes)


def make_persona() -> Persona:
    """A tiny persona that needs no prompt files."""
    return Persona(name="Kitsu", system_prompt="You are Kitsu, a fox VTuber.")


class Recorder:
    """Collects every event the engine emits, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, *, turn_id: int | None = None, skip: tuple[str, ...] = ("MouthUpdated", "MicLevel")) -> list[str]:
        """Event kinds in order (optionally of one turn), without the chatty lossy ones."""
        return [e.kind for e in self.events if e.kind not in skip and (turn_id is None or e.turn_id == turn_id)]

    def of(self, kind: str) -> list[Any]:
        """Every event of a kind."""
        return [e for e in self.events if e.kind == kind]


def fake_llm(engine: Engine) -> FakeLlm:
    """The engine's LLM, which in these tests is always a FakeLlm."""
    llm = engine.backends.llm
    assert isinstance(llm, FakeLlm)
    return llm


def fake_tts(engine: Engine) -> FakeTts:
    """The engine's TTS, which in these tests is always a FakeTts (or a subclass)."""
    tts = engine.backends.tts
    assert isinstance(tts, FakeTts)
    return tts


async def wait_for_event(rec: Recorder, kind: str, limit_s: float = 10) -> None:
    """Wait until the engine has emitted an event of `kind`."""
    async def poll() -> None:
        while not rec.of(kind):  # noqa: ASYNC110 - polling a plain list the engine appends to
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), limit_s)


EngineFactory = Callable[..., Awaitable[tuple[Engine, Recorder]]]
"""make_engine(llm=..., tts=..., asr=..., settings=..., inputs=..., **Engine kwargs) -> (started engine, recorder)."""


@pytest.fixture
async def make_engine() -> AsyncIterator[EngineFactory]:
    """Build started engines on fakes; all are stopped at teardown."""
    engines: list[Engine] = []

    async def factory(llm: FakeLlm | None = None, tts: FakeTts | None = None, asr: FakeAsr | None = None,
                      settings: Settings | None = None, inputs: list[Any] | None = None,
                      **kwargs: Any) -> tuple[Engine, Recorder]:
        backends = Backends(vad=FakeVad(), asr=asr or FakeAsr(), llm=llm or FakeLlm(), tts=tts or FakeTts(),
                            turn=kwargs.pop("turn", None), sentence=kwargs.pop("sentence", None))
        kwargs.setdefault("analyzer", lambda block, rate: (float(np.abs(block).mean()) if block.size else 0.0,
                                                           (0.0, 0.0, 0.0, 0.0, 0.0)))
        engine = Engine(settings or make_settings(), make_persona(), backends, NullOutput(16000),
                        inputs=inputs, **kwargs)
        recorder = Recorder()
        engine.bus.add_listener(recorder)
        engines.append(engine)
        await engine.start()
        return engine, recorder

    yield factory
    for engine in engines:
        await asyncio.wait_for(engine.stop(), 5)
