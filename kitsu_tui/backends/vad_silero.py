"""Silero VAD v6 on onnxruntime, streamed frame by frame with its recurrent state kept between frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.backends.base import Audio, BackendError
from kitsu_tui.backends.models import onnx_session, silero_vad_path

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
STATE_SHAPE = (1, 1, 128)


class SileroVad:
    """Speech probability per 512-sample frame at 16 kHz (32 ms), the way faster-whisper's SileroVADModel runs it."""

    frame_samples: int = FRAME_SAMPLES

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path
        self._session: Any = None
        self._input = np.zeros((1, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)

    def load(self) -> None:
        """Open the ONNX model on one intra-op thread (a frame costs well under a millisecond)."""
        path = silero_vad_path(self.model_path)
        session: Any = onnx_session(path, "Silero VAD model", intra_threads=1)
        names = {i.name for i in session.get_inputs()}
        if names != {"input", "h", "c"}:
            raise BackendError(
                f"{path} is not a Silero VAD v6 model (inputs {sorted(names)}); use faster-whisper's silero_vad_v6.onnx"
            )
        self._session = session
        self.reset()

    def speech_prob(self, frame: Audio) -> float:
        """Probability (0..1) that this 512-sample frame holds speech; the last 64 samples become the next context."""
        if self._session is None:
            raise BackendError("Silero VAD used before load()")
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.shape[0] != FRAME_SAMPLES:
            raise BackendError(f"VAD frame must be {FRAME_SAMPLES} samples at 16 kHz, got {samples.shape[0]}")
        self._input[0, CONTEXT_SAMPLES:] = samples
        output, self._h, self._c = self._session.run(None, {"input": self._input, "h": self._h, "c": self._c})
        self._input[0, :CONTEXT_SAMPLES] = samples[-CONTEXT_SAMPLES:]
        return float(output.reshape(-1)[0])

    def reset(self) -> None:
        """Zero the LSTM state and the 64-sample context (call between unrelated streams)."""
        self._input[:] = 0.0
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
