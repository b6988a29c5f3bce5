"""A disk cache of synthesized fixed lines: float32 .npy audio plus JSON metadata, least recently used out first."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kitsu_tui.backends.base import Audio

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
"""Files being written (renamed into place when complete); ones older than STALE_TEMP_S were left by a crash."""
STALE_TEMP_S = 300.0


@dataclass(frozen=True, slots=True)
class VoiceIdentity:
    """Everything about a voice that changes its audio for the same text (the speed is per call)."""

    backend: str
    voice: str
    """The voice file's path, or 'embedded'."""
    speaker: int | None
    length_scale: float
    sample_rate: int


@runtime_checkable
class CacheableVoice(Protocol):
    """A TTS backend whose audio may be cached: it can name what its audio depends on."""

    def cache_identity(self) -> VoiceIdentity:
        """The voice's identity for cache keys."""


def cache_key(identity: VoiceIdentity, text: str, speed: float) -> str:
    """sha256 (hex) over the voice's identity, the speed and the text."""
    blob = json.dumps({**asdict(identity), "speed": round(float(speed), 4), "text": text},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TtsCache:
    """Audio by key in one folder, at most `max_bytes` in all; safe for several threads and processes at once.

    Every file is written under a unique temporary name in the same folder and renamed into place, so a
    reader never sees half a file; an entry that is corrupt, half-written or mismatched is a miss and removed.
    All methods block (disk I/O): call them from a model worker, never the event loop.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max(0, int(max_bytes))

    @property
    def enabled(self) -> bool:
        """False when the size cap is 0 (the cache is off)."""
        return self.max_bytes > 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.npy", self.directory / f"{key}.json"

    def get(self, key: str) -> Audio | None:
        """The cached audio for `key` (its last use is recorded), or None on a miss."""
        if not self.enabled:
            return None
        audio_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            audio = np.load(audio_path, allow_pickle=False)
        except FileNotFoundError:
            if audio_path.exists() or meta_path.exists():
                self._remove(key)  # one half without the other: a writer died or eviction raced
            return None
        except (OSError, ValueError, EOFError, TypeError) as exc:
            log.warning("TTS cache entry %s is unreadable (%s): removed", key[:12], exc)
            self._remove(key)
            return None
        if not _valid(meta, audio):
            log.warning("TTS cache entry %s does not match its metadata: removed", key[:12])
            self._remove(key)
            return None
        meta["last_used"] = time.time()
        with contextlib.suppress(OSError):
            self._write(meta_path, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return np.ascontiguousarray(audio, dtype=np.float32)

    def put(self, key: str, audio: Audio, text: str, identity: VoiceIdentity) -> None:
        """Store `audio` for `key` (replacing any entry), then evict the least recently used beyond the cap."""
        if not self.enabled:
            return
        samples = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        now = time.time()
        meta: dict[str, Any] = {
            "text": text, "voice": identity.voice, "backend": identity.backend, "speaker": identity.speaker,
            "sample_rate": identity.sample_rate, "samples": int(samples.size),
            "sha256": hashlib.sha256(samples.tobytes()).hexdigest(), "created": now, "last_used": now,
        }
        audio_path, meta_path = self._paths(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write(audio_path, _npy_bytes(samples))
            self._write(meta_path, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        except OSError as exc:
            log.warning("TTS cache write failed in %s: %s", self.directory, exc)
            return
        self.evict()

    def evict(self) -> None:
        """Remove the least recently used entries until the folder holds at most max_bytes (and stale temp files)."""
        entries: dict[str, list[float]] = {}  # key -> [last use, bytes]; the metadata's mtime is the last use
        now = time.time()
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            path = self.directory / name
            try:
                stat = path.stat()
            except OSError:
                continue
            if name.startswith(TEMP_PREFIX):
                if now - stat.st_mtime > STALE_TEMP_S:
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            key, _, suffix = name.rpartition(".")
            if suffix not in ("npy", "json"):
                continue
            entry = entries.setdefault(key, [stat.st_mtime, 0.0])
            entry[1] += stat.st_size
            if suffix == "json":
                entry[0] = stat.st_mtime
        total = sum(size for _, size in entries.values())
        for key, (_, size) in sorted(entries.items(), key=lambda item: item[1][0]):
            if total <= self.max_bytes:
                break
            self._remove(key)
            total -= size

    def size_bytes(self) -> int:
        """The bytes the cache's entries take now."""
        try:
            return sum(p.stat().st_size for p in self.directory.iterdir() if not p.name.startswith(TEMP_PREFIX))
        except OSError:
            return 0

    def _write(self, path: Path, data: bytes) -> None:
        """Write `data` to a unique temporary file beside `path`, then rename it into place (atomic)."""
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def _remove(self, key: str) -> None:
        for path in self._paths(key):
            with contextlib.suppress(OSError):
                path.unlink()


def _npy_bytes(samples: Audio) -> bytes:
    """The .npy file's bytes for a float32 array."""
    buffer = io.BytesIO()
    np.save(buffer, samples, allow_pickle=False)
    return buffer.getvalue()


def _valid(meta: Any, audio: Any) -> bool:
    """The metadata is a table and the audio is 1-D float32 with the samples and checksum it names."""
    return (isinstance(meta, dict) and isinstance(audio, np.ndarray) and audio.dtype == np.float32
            and audio.ndim == 1 and meta.get("samples") == audio.size
            and meta.get("sha256") == hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest())
