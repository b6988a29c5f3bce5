"""Smart Turn v3.2 (pipecat, BSD-2): P(the speaker finished their turn) from the last 8 s of audio, on onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.backends.base import Audio, BackendError
from kitsu_tui.backends.models import onnx_session, smart_turn_path

SAMPLE_RATE = 16000
WINDOW_S = 8
"""The model sees the last 8 s, zero-padded in front when the utterance is shorter."""
N_MELS = 80
FRAMES = 800


class SmartTurn:
    """End-of-turn probability from Whisper log-mel features of the utterance's tail (about 50 ms on one core)."""

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self.model_path = model_path
        self.threads = threads
        self._session: Any = None
        self._features: Any = None

    def load(self) -> None:
        """Open the ONNX model and faster-whisper's feature extractor (8 s chunks, 80 mel bins)."""
        from faster_whisper.feature_extractor import FeatureExtractor

        path = smart_turn_path(self.model_path)
        session: Any = onnx_session(path, "Smart Turn model", intra_threads=self.threads)
        names = [i.name for i in session.get_inputs()]
        if names != ["input_features"]:
            raise BackendError(f"{path} is not a Smart Turn v3 model (inputs {names}); use smart-turn-v3.2-cpu.onnx")
        self._features = FeatureExtractor(feature_size=N_MELS, sampling_rate=SAMPLE_RATE, chunk_length=WINDOW_S)
        self._session = session

    def features(self, audio: Audio) -> np.ndarray:
        """(1, 80, 800) log-mel features of the last 8 s, computed as pipecat's Smart Turn v3 does.

        The waveform is zero-mean, unit-variance normalized before the spectrogram (transformers'
        WhisperFeatureExtractor with do_normalize=True); faster-whisper's extractor then matches it to 1e-6.
        """
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)[-SAMPLE_RATE * WINDOW_S:]
        window = np.zeros(SAMPLE_RATE * WINDOW_S, dtype=np.float32)
        window[window.size - samples.size:] = samples
        window = (window - window.mean()) / np.sqrt(window.var() + 1e-7)
        mel = self._features(window, padding=0)[:, :FRAMES]
        return np.asarray(mel, dtype=np.float32)[np.newaxis]

    def complete_prob(self, audio: Audio) -> float:
        """P(complete) in 0..1 for an utterance (16 kHz mono) that ends with the silence heard so far."""
        if self._session is None:
            raise BackendError("Smart Turn used before load()")
        output = self._session.run(None, {"input_features": self.features(audio)})
        return float(np.asarray(output[0]).reshape(-1)[0])
