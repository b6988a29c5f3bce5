"""Settings are frozen once loaded: assigning to any field raises; changes are made on a copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kitsu_tui.config.settings import AudioSettings, PathSettings, Settings


def test_assigning_to_a_section_field_raises() -> None:
    settings = Settings()
    with pytest.raises(ValidationError) as caught:
        settings.audio.play_audio = False  # type: ignore[misc]
    assert caught.value.errors()[0]["type"] == "frozen_instance"
    assert settings.audio.play_audio is True


def test_assigning_to_a_top_level_field_or_path_raises() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.persona = "calm"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.audio = AudioSettings(play_audio=False)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.paths.log_dir = Path("/tmp/elsewhere")  # type: ignore[misc]
    assert settings.persona == "kitsu" and isinstance(settings.paths, PathSettings)


def test_changes_go_to_a_copy() -> None:
    settings = Settings()
    changed = settings.with_values({"audio.play_audio": False})
    section = settings.hold.model_copy(update={"chat": 2.0})
    assert changed.audio.play_audio is False and settings.audio.play_audio is True
    assert section.chat == 2.0 and settings.hold.chat != 2.0
