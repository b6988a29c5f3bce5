"""Fixtures for the rehearsal: one headless OBS for the module and the spoken questions made with the real voice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..integrations.obs_peer import ObsPeer, running_obs

if TYPE_CHECKING:
    from kitsu_tui.backends.tts_piper import PiperTts

QUESTIONS = ("Hello Kitsu, what is your favorite color?", "What do you like to eat for breakfast?")
"""What the streamer asks out loud, in order (the second one after panic is cleared and the mic unmuted)."""


@pytest.fixture(scope="module")
def obs_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObsPeer]:
    """Real OBS Studio under Xvfb (a test kills and restarts it); under CI=true a missing OBS is a failure."""
    with running_obs(Path(tmp_path_factory.mktemp("obs"))) as peer:
        yield peer


@pytest.fixture(scope="module")
def question_wavs(real_tts: PiperTts, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """QUESTIONS spoken by the bundled Piper voice, one WAV each (at the voice's own 22.05 kHz)."""
    from kitsu_tui.audio.wav import write_wav

    folder = tmp_path_factory.mktemp("questions")
    paths = []
    for index, text in enumerate(QUESTIONS):
        path = folder / f"question-{index}.wav"
        write_wav(path, real_tts.synthesize(text), real_tts.sample_rate)
        paths.append(path)
    return paths
