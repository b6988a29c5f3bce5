"""Fixtures for console tests: a KitsuApp on fake backends (no models, no devices, no clock)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.bootstrap import EngineParts
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.tui.app import KitsuApp

ROOT = Path(__file__).resolve().parents[2]


def make_settings(tmp_path: Path | None = None) -> Settings:
    """Settings on the repo's personas/prompts, logs in tmp."""
    changes: dict[str, Any] = {"paths.personas_dir": ROOT / "personas", "paths.prompts_dir": ROOT / "prompts"}
    if tmp_path is not None:
        changes["paths.log_dir"] = tmp_path / "logs"
    return Settings().with_values(changes)


def fake_factory(settings: Settings, llm: FakeLlm | None = None, tts: FakeTts | None = None,
                 warnings: list[str] | None = None, **kwargs: Any) -> Callable[[], EngineParts]:
    """An engine factory on fakes (FakeTts at 16 kHz into a real-time null sink)."""

    def factory() -> EngineParts:
        backends = Backends(vad=FakeVad(), asr=FakeAsr(), llm=llm or FakeLlm(), tts=tts or FakeTts())
        engine = Engine(settings, Persona(name="Kitsu", system_prompt="You are Kitsu."), backends,
                        NullOutput(16000), inputs=[],
                        analyzer=lambda block, rate: (0.0, (0.0, 0.0, 0.0, 0.0, 0.0)), **kwargs)
        return EngineParts(engine, list(warnings or []))

    return factory


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fresh settings per test."""
    return make_settings(tmp_path)


@pytest.fixture
def app_factory(settings: Settings) -> Callable[..., KitsuApp]:
    """Build a KitsuApp on fakes: app_factory(llm=..., tts=..., warnings=[...], settings=a changed copy)."""
    default = settings

    def build(settings: Settings | None = None, **kwargs: Any) -> KitsuApp:
        chosen = settings or default
        return KitsuApp(chosen, fake_factory(chosen, **kwargs), attach=None, blink=False)

    return build
