"""Keeps each reply's played audio and writes it as one WAV per turn (`kitsu run --record DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.backends.base import Audio
from kitsu_tui.backends.worker import ModelWorker


class ReplyRecorder:
    """Collects a turn's audio while it is queued for playback; does nothing without a record directory."""

    def __init__(self, record_dir: Path | str | None, io_worker: ModelWorker) -> None:
        self._dir = Path(record_dir) if record_dir is not None else None
        self._io_worker = io_worker
        self._chunks: dict[int, list[Audio]] = {}

    def add(self, turn_id: int, audio: Audio) -> None:
        """Keep one sentence's audio."""
        if self._dir is not None:
            self._chunks.setdefault(turn_id, []).append(audio)

    def drop(self, turn_id: int) -> None:
        """Forget a turn's audio (a discarded speculative reply)."""
        self._chunks.pop(turn_id, None)

    async def finish(self, turn_id: int, record: dict[str, Any], rate: int) -> None:
        """Write the turn's WAV (in the IO thread) and note its path in `record`."""
        chunks = self._chunks.pop(turn_id, None)
        if not chunks or self._dir is None:
            return
        path = self._dir / f"turn-{turn_id:04d}.wav"
        record["recording"] = str(path)
        await self._io_worker.call(_write_wav, path, np.concatenate(chunks), rate)


def _write_wav(path: Path, audio: Audio, rate: int) -> None:
    from kitsu_tui.audio.wav import write_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, audio, rate)
