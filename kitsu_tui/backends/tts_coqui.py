"""Optional Coqui TTS voice from local model files (the `coqui` extra); it never downloads anything."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.backends.base import Audio, BackendError

COQUI_HINT = "pip install 'kitsu-tui[coqui]' (needs torch; see MODELS.md)"
MODEL_FILES = ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth")


def coqui_model_files(voice: str) -> tuple[Path, Path]:
    """(checkpoint, config.json) inside a local Coqui model directory, checked to exist."""
    if voice in ("", "embedded"):
        raise BackendError("Coqui has no embedded voice: set tts.voice to a local Coqui model directory")
    directory = Path(voice).expanduser()
    if directory.is_file():
        directory = directory.parent
    if not directory.is_dir():
        raise BackendError(f"Coqui model directory not found: {directory} (set tts.voice; models are never downloaded)")
    config = directory / "config.json"
    checkpoint = next((directory / name for name in MODEL_FILES if (directory / name).is_file()), None)
    if checkpoint is None or not config.is_file():
        raise BackendError(
            f"{directory} lacks a Coqui checkpoint ({'/'.join(MODEL_FILES)}) and config.json; copy the model files there"
        )
    return checkpoint, config


class CoquiTts:
    """Coqui TTS (package `TTS` or `coqui-tts`), imported only when this backend is chosen."""

    sample_rate: int = 22050

    def __init__(self, voice: str, speaker: int | None = None, use_cuda: bool = False, speed: float = 1.0) -> None:
        self.voice = voice
        self.base_speed = speed
        self.speaker = speaker
        self.use_cuda = use_cuda
        self._tts: Any = None
        self._lock = threading.Lock()  # torch models are not safe to run from two threads at once

    def load(self) -> None:
        """Check the local files, then import TTS and load the model from them."""
        checkpoint, config = coqui_model_files(self.voice)
        try:
            from TTS.api import TTS
        except ImportError as exc:
            raise BackendError(f"Coqui TTS is not installed: {COQUI_HINT}") from exc
        try:
            tts = TTS(model_path=str(checkpoint), config_path=str(config), progress_bar=False)
            self._tts = tts.to("cuda") if self.use_cuda else tts
        except Exception as exc:  # Coqui raises assorted types for bad checkpoints
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise BackendError(f"cannot load Coqui model {checkpoint}: {detail}") from exc
        self.sample_rate = int(self._tts.synthesizer.output_sample_rate)

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Synthesize `text` as float32 mono at the model's rate; speed > 1 talks faster where the model supports it."""
        if self._tts is None:
            raise BackendError("Coqui voice used before load()")
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        kwargs: dict[str, Any] = {"speed": self.base_speed * speed}
        speakers = getattr(self._tts, "speakers", None)
        if self.speaker is not None and speakers:
            kwargs["speaker"] = speakers[self.speaker % len(speakers)]
        with self._lock:
            wav = self._tts.tts(text=text, **kwargs)
        return np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
