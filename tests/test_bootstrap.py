"""build_engine: language warnings for the persona, and no change to the caller's Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kitsu_tui import bootstrap
from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.bootstrap import build_engine
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings


def fakes() -> Backends:
    """Fake backends (nothing to load)."""
    return Backends(vad=FakeVad(), asr=FakeAsr(), llm=FakeLlm(), tts=FakeTts())


async def test_no_speakers_records_on_a_copy_of_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without speakers replies go to <data_dir>/recordings on the engine's settings; the caller's stay as given."""
    def no_speakers(settings: Settings, rate: int) -> tuple[Any, str]:
        return NullOutput(rate), "no speakers"

    monkeypatch.setattr(bootstrap, "open_speakers", no_speakers)
    settings = Settings().with_values({"paths.data_dir": tmp_path})
    parts = build_engine(settings, persona=Persona(name="A"), backends=fakes(), moderation=False, memory=False)
    try:
        assert parts.engine.settings.audio.record_dir == tmp_path / "recordings"
        assert settings.audio.record_dir is None
        assert parts.warnings == [f"no speakers; replies are written to {tmp_path / 'recordings'}/"]
    finally:
        await parts.engine.stop()


async def test_other_language_persona_warns_about_english_models() -> None:
    """Real (unloaded) backends for a German persona: Whisper gets 'de', and one line each for ASR and voice."""
    persona = Persona(name="Hana", language="de")
    parts = build_engine(Settings(), persona=persona, output=NullOutput(22050), moderation=False, memory=False)
    try:
        assert getattr(parts.engine.backends.asr, "language", None) == "de"
        assert len(parts.warnings) == 2 and all("Hana speaks 'de'" in w for w in parts.warnings)
        assert parts.engine.tts_factory is not None
    finally:
        await parts.engine.stop()
