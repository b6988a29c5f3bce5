"""Piper TTS (piper-tts 1.8) on its own onnxruntime session, safe to call from several threads at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.backends.base import Audio, BackendError
from kitsu_tui.backends.models import onnx_session, piper_voice_paths
from kitsu_tui.backends.tts_cache import VoiceIdentity

LONGEST_SENTENCE = (
    "Well, I was thinking about the stream we had last night, the one with the goose and the long rainy level, "
    "and honestly I would love to try that whole route again tomorrow with everyone in chat cheering along with me"
)
"""One sentence as long as the engine's longest chunk (220 characters by default), synthesized once at load.

onnxruntime's CPU arena keeps the largest buffers it ever needed: without this, the first long sentence of a
show raised RSS by up to 120 MB for good, hours in (a step in a long soak's memory curve). Warming it at load
puts that step before the show starts.

The voice's session also runs without onnxruntime's memory pattern. With it, every run takes one block sized
for its input's shape, and a block bigger than any free one grows the arena by a new region, kept for good: a
121 MB region appeared 10 minutes into a fault soak, and RSS grew 41 MB from the 20th to the 200th of 200
random sentences. Without it each tensor takes its own chunk, and the same sentences moved RSS by 3 MB (measured).
"""
PIECE_SHARE = 0.8
"""No ONNX call gets more phonemes than this share of the warm sentence's (its audio then fits the warmed arena).

Characters do not bound phonemes: "In 2026 we reached 1,234,567 followers..." is 135 characters and 383 phonemes,
17.7 s of audio in one call, and it raised RSS by 157 MB for good (measured). Longer sentences are synthesized
in pieces cut at word boundaries.
"""


class PiperTts:
    """Text to float32 mono audio at the voice's own sample rate (22050 Hz for the embedded voice)."""

    sample_rate: int = 22050

    def __init__(
        self,
        voice: str = "embedded",
        speaker: int | None = None,
        length_scale: float = 1.0,
        intra_threads: int = 1,
        use_cuda: bool = False,
    ) -> None:
        self.voice_ref = voice
        self.speaker = speaker
        self.length_scale = length_scale
        self.intra_threads = intra_threads
        self.use_cuda = use_cuda
        self._voice: Any = None
        self._run_lock = threading.Lock()
        """One ONNX call at a time (see _piece_audio)."""
        self.max_phonemes = 0
        """Phonemes per ONNX call at most (0 = no cap, before load)."""
        self.sample_rate = _peek_sample_rate(voice)

    def load(self) -> None:
        """Read the voice config, open the ONNX model and warm espeak-ng with a one-word synthesis."""
        try:
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError as exc:
            raise BackendError("piper-tts is not installed: pip install piper-tts==1.8.0") from exc
        model_path, config_path = piper_voice_paths(self.voice_ref)
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"Piper voice config {config_path} is unreadable or invalid: {exc!r}"[:240]) from exc
        session = onnx_session(model_path, "Piper voice", self.intra_threads, self.use_cuda, memory_pattern=False)
        self._voice = PiperVoice(session=session, config=config)
        self.sample_rate = int(config.sample_rate)
        if self.speaker is not None and config.num_speakers > 1 and not 0 <= self.speaker < config.num_speakers:
            raise BackendError(f"speaker {self.speaker} out of range: voice has {config.num_speakers} speakers")
        self.synthesize("Hi.")  # first call initialises espeak-ng and the ONNX kernels
        self.synthesize(LONGEST_SENTENCE)  # onnxruntime's arena now holds the largest buffers a chunk needs
        warmed = max((len(p) for p in self._voice.phonemize(LONGEST_SENTENCE)), default=0)
        self.max_phonemes = max(32, int(warmed * PIECE_SHARE))

    def cache_identity(self) -> VoiceIdentity:
        """What this voice's audio depends on besides text and speed (for the TTS cache's keys)."""
        voice = self.voice_ref if self.voice_ref == "embedded" else str(Path(self.voice_ref).expanduser().resolve())
        return VoiceIdentity("piper", voice, self.speaker, self.length_scale, self.sample_rate)

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Synthesize all sentences of `text` and return them joined (float32, -1..1); speed > 1 talks faster."""
        if self._voice is None:
            raise BackendError("Piper voice used before load()")
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        from piper import SynthesisConfig

        config = SynthesisConfig(speaker_id=self.speaker, length_scale=self.length_scale / max(speed, 0.05))
        chunks = [self._piece_audio(piece, config) for sentence in self._voice.phonemize(text)
                  for piece in split_phonemes(sentence, self.max_phonemes)]
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def _piece_audio(self, phonemes: list[str], config: Any) -> Audio:
        """One ONNX call, post-processed as piper's own synthesize() does (peak-normalized, volume, clipped).

        The calls of the TTS workers take turns. Each running call takes its own block from onnxruntime's arena, so
        two long sentences synthesized together grew it for good: +114 MB over three such pairs, against +20 MB
        for the same six one after another (measured). That was the step in long fault soaks' RSS curves. Two
        calls at once on 2 cores also only share the CPU; a cached line never waits here.
        """
        ids = self._voice.phonemes_to_ids(phonemes)
        with self._run_lock:
            raw = self._voice.phoneme_ids_to_audio(ids, config)
        audio: Audio = np.asarray(raw, dtype=np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if config.normalize_audio:
            audio = audio / peak if peak >= 1e-8 else np.zeros_like(audio)
        if config.volume != 1.0:
            audio = audio * config.volume
        clipped: Audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
        return clipped


def split_phonemes(phonemes: list[str], limit: int) -> list[list[str]]:
    """A sentence's phonemes in pieces of at most `limit`, cut after a word (" ") where one is in reach."""
    if not phonemes:
        return []
    if limit <= 0 or len(phonemes) <= limit:
        return [phonemes]
    pieces, rest = [], list(phonemes)
    while len(rest) > limit:
        cut = max((i for i in range(limit // 2, limit) if rest[i] == " "), default=limit - 1) + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return [*pieces, rest] if rest else pieces


def _peek_sample_rate(voice: str) -> int:
    """The voice's sample rate from its .onnx.json, so audio output can be opened before load(); 22050 if unknown."""
    try:
        _, config_path = piper_voice_paths(voice)
        return int(json.loads(config_path.read_text(encoding="utf-8"))["audio"]["sample_rate"])
    except (BackendError, OSError, ValueError, KeyError, TypeError):
        return PiperTts.sample_rate
