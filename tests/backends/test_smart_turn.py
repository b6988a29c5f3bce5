"""Smart Turn v3.2 from the pipecat-ai wheel: features as pipecat computes them, a verdict, and its cost on this CPU."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soxr

from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.turn_smart import SmartTurn

if TYPE_CHECKING:
    from kitsu_tui.backends.tts_piper import PiperTts

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    model = SmartTurn()
    model.load()
    return model


def pipecat_features(audio: np.ndarray) -> np.ndarray:
    """pipecat's own numpy feature code (vendored from transformers), loaded by path: pipecat's package needs loguru."""
    path = importlib.metadata.distribution("pipecat-ai").locate_file("pipecat/audio/turn/smart_turn/_whisper_features.py")
    spec = importlib.util.spec_from_file_location("pipecat_whisper_features", Path(str(path)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    window = np.zeros(8 * 16000, np.float32)
    window[-audio.size:] = audio[-window.size:]
    return np.asarray(module.compute_whisper_log_mel_features(window, do_normalize=True))


def test_features_match_pipecats(smart_turn: SmartTurn) -> None:
    rng = np.random.default_rng(3)
    for seconds in (1.3, 8.0, 11.0):  # shorter than the window (padded in front), exact, longer (the tail kept)
        audio = (rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32)
        ours = smart_turn.features(audio)
        assert ours.shape == (1, 80, 800) and ours.dtype == np.float32
        assert float(np.abs(ours[0] - pipecat_features(audio)).max()) < 1e-4


def test_a_finished_question_is_complete(smart_turn: SmartTurn, real_tts: PiperTts) -> None:
    spoken = real_tts.synthesize("Can you recommend a cozy game for a rainy Sunday?")
    audio = np.concatenate([soxr.resample(spoken, real_tts.sample_rate, 16000).astype(np.float32),
                            np.zeros(3200, np.float32)])  # the 200 ms of silence the listener waits for
    started = time.perf_counter()
    prob = smart_turn.complete_prob(audio)
    spent_ms = (time.perf_counter() - started) * 1000
    assert 0.5 <= prob <= 1.0, prob
    assert spent_ms < 1000, spent_ms  # a sanity bound only: `kitsu bench` reports the real cost


def test_a_missing_model_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="Smart Turn model not found") as caught:
        SmartTurn(tmp_path / "nope.onnx").load()
    assert "\n" not in str(caught.value)
