"""Fixtures for end-to-end tests with the real embedded models: test utterances made with the real voice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kitsu_tui.backends.tts_piper import PiperTts

ROOT = Path(__file__).resolve().parents[2]
KITSU = str(Path(sys.executable).with_name("kitsu"))


@pytest.fixture(scope="session")
def utterance_wav(real_tts: PiperTts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV of a known question, spoken by the bundled Piper voice (at its own 22.05 kHz rate)."""
    from kitsu_tui.audio.wav import write_wav

    path = tmp_path_factory.mktemp("utterances") / "question.wav"
    write_wav(path, real_tts.synthesize("Hello Kitsu, what is your favorite color?"), real_tts.sample_rate)
    return path


