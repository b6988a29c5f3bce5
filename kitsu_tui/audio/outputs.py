"""Playback sinks fed from a ring buffer (a sounddevice OutputStream, a real-time null sink) that report a lost device."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import numpy as np

from kitsu_tui.audio.base import Audio, AudioDeviceError, AudioDeviceLost, AudioOutput
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
        self._lost: str | None = None
        """Why the device was lost (set from any thread; cleared by a successful reopen)."""

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

    @property
    def error(self) -> str | None:
        """Why the device is not playing now, or None while it plays."""
        return self._lost

    def write(self, samples: Audio) -> None:
        """Append samples at sample_rate to the play buffer (resampled); never blocks; AudioDeviceLost while lost."""
        why = self.error
        if why is not None:
            raise AudioDeviceLost(f"audio output {self.name!r} lost: {why}")
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
    """Plays through a PortAudio stream whose callback reads the ring in small blocks; lost when the stream stops
    on its own (device unplugged, sound server gone) or is not called back for `stall_s` (a suspended sink)."""

    stall_s = 1.0
    """Seconds without a callback after which a running stream counts as lost."""
    start_grace_s = 3.0
    """A fresh stream may wait this long for its first pull (an idle PulseAudio null sink takes up to ~2 s)."""
    pulled_after_s = 0.3
    """A callback this long after the start is the device pulling audio, not PortAudio prefilling its buffer."""

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
        self._generation = 0
        """Counts opened and closed streams: a finished callback of an old stream is ignored."""
        self._last_callback = self._opened_at = time.monotonic()

    def start(self) -> None:
        """Resolve the device, pick a supported rate and channel count, and start the stream."""
        self._generation += 1
        generation = self._generation
        self._lost = None
        self._last_callback = time.monotonic()
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
        stream = open_stream(sd, "output", info.name, device=info.index, samplerate=rate, channels=channels,
                             blocksize=blocksize, latency=self.latency, callback=self._callback,
                             finished_callback=lambda: self._finished(generation))
        if generation != self._generation:  # closed meanwhile (a reopen in a thread racing a shutdown)
            close_stream(stream)
            raise AudioDeviceLost(f"audio output {info.name!r} was closed while it opened")
        self._stream = stream
        self._last_callback = self._opened_at = time.monotonic()

    def _pick_format(self, sd: Any, index: int, default_rate: float, max_channels: int) -> tuple[int, int]:
        """Prefer the caller's rate and mono; fall back to the device's rate and stereo."""
        return pick_stream_format(sd.check_output_settings, index, self.sample_rate, default_rate, max_channels, "output")

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: copy the next block out of the ring (silence when empty); nothing else."""
        self._last_callback = time.monotonic()
        self._consume(outdata[:, 0])
        for channel in range(1, self._channels):
            outdata[:, channel] = outdata[:, 0]

    def _finished(self, generation: int) -> None:
        """PortAudio thread: the stream became inactive; unless it was closed here, the device is gone."""
        if generation == self._generation and self._stream is not None and self._lost is None:
            self._lost = "the output stream stopped (device unplugged or sound server gone)"

    @property
    def error(self) -> str | None:
        """Why the device is not playing: a PortAudio error stopped the stream, or callbacks stopped coming."""
        if self._lost is not None:
            return self._lost
        stream = self._stream
        if stream is None:
            return None
        if not stream.active:
            return "the output stream stopped (device unplugged or sound server gone)"
        now = time.monotonic()
        silent = now - self._last_callback
        if silent > (self.start_grace_s if now - self._opened_at < self.start_grace_s else self.stall_s):
            return f"the device stopped taking audio ({silent:.1f} s without a callback)"
        return None

    def reopen(self) -> None:
        """Open the same device again; AudioDeviceError while it is gone or not pulled from within `start_grace_s`."""
        self._shut(abort=True)
        self._ring.clear()
        try:
            self.start()
        except AudioDeviceError as exc:
            self._lost = str(exc)
            raise
        generation, pulled_at = self._generation, self._opened_at + self.pulled_after_s
        while (self._last_callback < pulled_at and time.monotonic() - self._opened_at < self.start_grace_s
               and generation == self._generation):
            time.sleep(0.01)
        if generation != self._generation:
            raise AudioDeviceLost(f"audio output {self.name!r} was closed while it reopened")
        if self._last_callback < pulled_at:
            self._lost = "the device opened but takes no audio"
            self._shut(abort=True)
            raise AudioDeviceLost(f"audio output {self.name!r}: {self._lost}")

    def close(self) -> None:
        """Stop and close the stream (idempotent); a lost one is aborted, since stopping it waits on the device."""
        self._shut(abort=self.error is not None)

    def _shut(self, abort: bool) -> None:
        """Close the stream: drained (stop) or dropped at once (abort: the device may never take the rest)."""
        self._generation += 1
        stream, self._stream = self._stream, None
        if stream is None:
            return
        if not abort:
            close_stream(stream)
            return
        for step in (stream.abort, stream.close):
            with contextlib.suppress(Exception):
                step()


class NullOutput(_RingOutput):
    """A real-time sink without speakers (a thread drains the ring at real-time pace), and the device double of
    soaks and tests: lose() unplugs it, restore() plugs it back in."""

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

    def lose(self, reason: str = "the null sink was unplugged (fault injection)") -> None:
        """Make the device vanish: it stops consuming, `error` says `reason` and write() raises AudioDeviceLost."""
        self._lost = reason

    def restore(self) -> None:
        """End a loss begun by lose(): the device is back (reopen() succeeds, writes play again)."""
        self._lost = None

    def reopen(self) -> None:
        """Come back after a loss with an empty buffer; AudioDeviceLost while lose() is still in force."""
        why = self._lost
        if why is not None:
            raise AudioDeviceLost(f"audio output {self.name!r} still lost: {why}")
        self._ring.clear()
        self.start()

    def _consume(self, out: Audio) -> int:
        """Fill `out` from the ring, or with silence and nothing taken while the device is lost."""
        if self._lost is not None:
            out[:] = 0.0
            self._last_len = 0
            return 0
        return super()._consume(out)

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
