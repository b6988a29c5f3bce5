"""Fixtures for soak tests: settings into a temp home, fake backends, a chat file and spoken-tone WAVs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.wav import write_wav
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def soak_settings(tmp_path: Path) -> Settings:
    """Settings with the shipped personas/prompts and a private copy of data/ (moderation rules)."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("memory.sqlite3*", "*token*"))
    return Settings().with_values({
        "paths.personas_dir": ROOT / "personas",
        "paths.prompts_dir": ROOT / "prompts",
        "paths.data_dir": data,
        "paths.log_dir": tmp_path / "logs",
        "audio.play_audio": False,
        "telemetry.interval_s": 0.2,
    })


def fake_backends(llm: FakeLlm | None = None, asr: FakeAsr | None = None) -> Backends:
    """Deterministic backends (the soak machinery is what is under test here)."""
    return Backends(vad=FakeVad(), asr=asr or FakeAsr(), llm=llm or FakeLlm(token_delay_s=0.002),
                    tts=FakeTts(ms_per_char=8.0))


def tone_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A loud 'spoken' tone burst the energy VAD takes for speech."""
    t = np.arange(int(seconds * rate)) / rate
    write_wav(path, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate)
    return path


@pytest.fixture
def backends_factory() -> Callable[..., Backends]:
    """fake_backends as a fixture, for tests that want fresh fakes."""
    return fake_backends
