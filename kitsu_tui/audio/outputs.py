"""Playback sinks fed from a ring buffer: a real sounddevice OutputStream, and a real-time null sink."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from kitsu_tui.audio.base import Audio, AudioDeviceError, AudioOutput
from kitsu_tui.audio.devices import close_stream, find_device, open_stream, pick_stream_format
from kitsu_tui.audio.resample import resample
from kitsu_tui.audio.ringbuffer import RingBuffer


class _RingOutput:
    """Shared bookkeeping: ring buffer, played counter and a preallocated copy of the last block."""

    name: str
    sample_rate: int

    def __init__(self, name: str, sample_rate: int, device_rate: int, max_block: int) -> None:
        self.name = name
        self.sample_rate = int(sample_rate)
        self.device_rate = int(device_rate)
        self._ring = RingBuffer(capacity=self.device_rate * 60)
        self._last = np.zeros(max_block, dtype=np.float32)
        self._last_len = 0

    def _consume(self, out: Audio) -> int:
        """Fill `out` from the ring (silence when empty) and remember it for lipsync; runs on the audio thread."""
        taken = self._ring.read_into(out)
        if taken:
            keep = min(taken, self._last.shape[0])
            self._last[:keep] = out[:keep]
            self._last_len = keep
        else:
            self._last_len = 0
        return taken

    def write(self, samples: Audio) -> None:
        """Append samples at sample_rate to the play buffer (resampled to the device rate); never blocks."""
        data = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.device_rate != self.sample_rate:
            data = resample(data, self.sample_rate, self.device_rate)
        self._ring.write(data)

    def clear(self) -> int:
        """Drop everything not yet played; the audio thread stops within one block. Returns samples dropped."""
        dropped = self._ring.clear()
        return self._to_caller_rate(dropped)

    def _to_caller_rate(self, device_samples: int) -> int:
        """Convert a count of device-rate samples to sample_rate samples."""
        if self.device_rate == self.sample_rate:
            return int(device_samples)
        return int(round(device_samples * self.sample_rate / self.device_rate))

    @property
    def played_samples(self) -> int:
        """Samples of written audio actually output since start (silence fill is not counted)."""
        return self._to_caller_rate(self._ring.total_read)

    @property
    def queued_samples(self) -> int:
        """Samples written but not yet played."""
        return self._to_caller_rate(self._ring.available)

    def last_block(self) -> Audio:
        """A copy of the most recently played block at sample_rate; empty when nothing is playing."""
        length = self._last_len
        block = self._last[:length].copy()
        if length and self.device_rate != self.sample_rate:
            block = resample(block, self.device_rate, self.sample_rate)
        return block


class SoundDeviceOutput(_RingOutput):
    """Plays through a PortAudio output stream whose callback reads the ring buffer in small blocks."""

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int = 22050,
        latency: str | float = "low",
        block_ms: int = 10,
    ) -> None:
        self.device = device
        self.latency = latency
        self.block_ms = int(block_ms)
        super().__init__("speakers", sample_rate, sample_rate, max_block=8192)
        self._stream: Any = None
        self._channels = 1

    def start(self) -> None:
        """Resolve the device, pick a supported rate and channel count, and start the stream."""
        info = find_device(self.device, "output")
        import sounddevice as sd

        self.name = info.name
        rate, channels = self._pick_format(sd, info.index, info.default_samplerate, info.max_output_channels)
        if rate != self.device_rate:
            self._ring = RingBuffer(capacity=rate * 60)
        self.device_rate, self._channels = rate, channels
        blocksize = max(64, rate * self.block_ms // 1000)
        if blocksize > self._last.shape[0]:
            self._last = np.zeros(blocksize, dtype=np.float32)
        self._stream = open_stream(sd, "output", info.name, device=info.index, samplerate=rate, channels=channels,
                                   blocksize=blocksize, latency=self.latency, callback=self._callback)

    def _pick_format(self, sd: Any, index: int, default_rate: float, max_channels: int) -> tuple[int, int]:
        """Prefer the caller's rate and mono; fall back to the device's rate and stereo."""
        return pick_stream_format(sd.check_output_settings, index, self.sample_rate, default_rate, max_channels, "output")

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: copy the next block out of the ring (silence when empty); nothing else."""
        self._consume(outdata[:, 0])
        for channel in range(1, self._channels):
            outdata[:, channel] = outdata[:, 0]

    def close(self) -> None:
        """Stop and close the stream (idempotent)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            close_stream(stream)


class NullOutput(_RingOutput):
    """A real-time sink for machines without speakers: a thread drains the ring at exactly real-time pace."""

    def __init__(
        self, sample_rate: int = 22050, block_ms: int = 10, name: str = "null (no speakers)"
    ) -> None:
        self.block_samples = max(1, sample_rate * int(block_ms) // 1000)
        super().__init__(name, sample_rate, sample_rate, max_block=self.block_samples * 4)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._scratch = np.zeros(self.block_samples * 4, dtype=np.float32)
        self.clock_samples = 0
        """Samples of device time elapsed since start (audio plus silence)."""

    def start(self) -> None:
        """Start the pacing thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kitsu-null-output", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Consume exactly rate * elapsed samples, block by block, paced by the monotonic clock (no drift)."""
        started = time.monotonic()
        block_s = self.block_samples / self.sample_rate
        max_chunk = self._scratch.shape[0]
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self.sample_rate) - self.clock_samples
            while due > 0:
                chunk = min(due, max_chunk)
                self._consume(self._scratch[:chunk])
                self.clock_samples += chunk
                due -= chunk
            next_at = started + (self.clock_samples + self.block_samples) / self.sample_rate
            self._stop.wait(max(0.0, min(block_s, next_at - time.monotonic())))

    def close(self) -> None:
        """Stop the pacing thread."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=1.0)


def open_output(
    device: str | int | None, sample_rate: int, enabled: bool = True, latency: str | float = "low"
) -> tuple[AudioOutput, str | None]:
    """Start the configured speakers, or a NullOutput when disabled or unusable; returns (output, reason for the fallback)."""
    if enabled:
        speakers = SoundDeviceOutput(device, sample_rate, latency)
        try:
            speakers.start()
            return speakers, None
        except AudioDeviceError as exc:
            reason = f"{exc}; playing to a silent real-time null sink instead"
    else:
        reason = "audio playback is off (audio.play_audio = false); using a silent real-time null sink"
    null = NullOutput(sample_rate)
    null.start()
    return null, reason
