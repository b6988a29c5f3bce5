"""Downmixing and sample-rate conversion with soxr, for whole clips and for streamed capture blocks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from kitsu_tui.audio.base import Audio, Frame


def to_mono(frames: npt.NDArray[np.floating]) -> Audio:
    """Average a (frames, channels) or 1-D array into contiguous float32 mono."""
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, 0] if array.shape[1] == 1 else array.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(array.reshape(-1), dtype=np.float32)


def resample(samples: Audio, from_rate: int, to_rate: int) -> Audio:
    """Convert a whole mono clip between sample rates (a copy of the input when the rates match)."""
    mono = to_mono(samples)
    if int(from_rate) == int(to_rate) or mono.size == 0:
        return mono.copy()
    out = soxr.resample(mono, int(from_rate), int(to_rate), quality="HQ")
    return np.ascontiguousarray(out, dtype=np.float32)


class StreamResampler:
    """Resample consecutive blocks of one stream without clicks at the block edges (keeps filter state)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = int(from_rate)
        self.to_rate = int(to_rate)
        self._stream = (
            None
            if self.from_rate == self.to_rate
            else soxr.ResampleStream(self.from_rate, self.to_rate, 1, dtype="float32")
        )

    def process(self, block: Audio, last: bool = False) -> Audio:
        """Resample one mono block; `last=True` flushes the filter's delayed tail."""
        mono = to_mono(block)
        if self._stream is None:
            return mono
        return np.ascontiguousarray(self._stream.resample_chunk(mono, last=last), dtype=np.float32)


class FrameChunker:
    """Re-cut a stream of variable-length blocks into frames of exactly `frame_samples` samples."""

    def __init__(self, frame_samples: int) -> None:
        self.frame_samples = int(frame_samples)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, block: Audio) -> list[Audio]:
        """Add samples and return every complete frame now available (each its own array)."""
        data = (
            np.concatenate((self._pending, block))
            if self._pending.size
            else np.asarray(block, dtype=np.float32)
        )
        count = data.size // self.frame_samples
        frames = [data[i * self.frame_samples : (i + 1) * self.frame_samples].copy() for i in range(count)]
        self._pending = data[count * self.frame_samples :].copy()
        return frames

    def push_frame(self, frame: Frame, sample_rate: int) -> list[Frame]:
        """Re-cut a captured Frame; each frame out is stamped with the time its own last sample arrived."""
        frames = self.push(frame.samples)
        later = len(frames) * self.frame_samples + self.pending
        stamped: list[Frame] = []
        for samples in frames:
            later -= self.frame_samples
            stamped.append(Frame(samples, frame.captured_at - later / sample_rate))
        return stamped

    @property
    def pending(self) -> int:
        """Samples held back until the next frame is complete."""
        return int(self._pending.size)
