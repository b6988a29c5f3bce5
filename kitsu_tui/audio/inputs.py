"""Audio inputs that yield 512-sample 16 kHz frames: a live microphone and WAV files fed in real time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, Audio, AudioDeviceError, Frame
from kitsu_tui.audio.devices import close_stream, find_device, open_stream, pick_stream_format
from kitsu_tui.audio.resample import FrameChunker, StreamResampler, to_mono
from kitsu_tui.audio.wav import load_wav

_END = object()
"""Queue marker: the stream was closed."""


def frame_samples_for(frame_ms: int, sample_rate: int) -> int:
    """Samples per frame; 32 ms at 16 kHz gives the 512 samples Silero VAD needs."""
    return max(1, int(sample_rate) * int(frame_ms) // 1000)


def padded_frames(clip: Audio, frame_samples: int) -> Iterator[Audio]:
    """Cut a clip into frames of exactly frame_samples, the last one padded with silence."""
    for start in range(0, clip.size, frame_samples):
        samples = clip[start : start + frame_samples]
        if samples.size < frame_samples:
            samples = np.concatenate((samples, np.zeros(frame_samples - samples.size, dtype=np.float32)))
        yield np.ascontiguousarray(samples, dtype=np.float32)


class FramePacer:
    """Delivers fed audio as a real microphone would: each frame when its last sample is due by the monotonic clock.

    With realtime=False it only yields to the loop and stamps frames with the time they are handed over.
    """

    def __init__(self, sample_rate: int, realtime: bool = True) -> None:
        self.sample_rate = int(sample_rate)
        self.realtime = realtime
        self._started = time.monotonic()
        self._sent = 0

    async def pace(self, samples: Audio) -> Frame:
        """Wait until `samples` is due and return it as a Frame stamped with that time."""
        self._sent += samples.size
        if not self.realtime:
            await asyncio.sleep(0)
            return Frame(samples, time.monotonic())
        due = self._started + self._sent / self.sample_rate
        delay = due - time.monotonic()
        await asyncio.sleep(delay if delay > 0 else 0)
        return Frame(samples, due)


class MicInput:
    """Captures a PortAudio input device; the callback only copies and hands blocks to the event loop."""

    def __init__(
        self,
        device: str | int | None = None,
        frame_ms: int = 32,
        sample_rate: int = PIPELINE_RATE,
        max_queued: int = 64,
    ) -> None:
        self.device = device
        self.sample_rate = int(sample_rate)
        self.frame_samples = frame_samples_for(frame_ms, sample_rate)
        self.name = "microphone"
        self.capture_rate = self.sample_rate
        self.dropped_blocks = 0
        """Blocks thrown away because the consumer fell more than max_queued blocks behind."""
        self._max_queued = max_queued
        self._queue: asyncio.Queue[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._closing = False
        self._failure: str | None = None

    def start(self) -> None:
        """Resolve the device and start capturing; blocks are dropped until frames() runs on an event loop."""
        if self._stream is not None:
            return
        info = find_device(self.device, "input")
        import sounddevice as sd

        self.name = info.name
        try:  # may be called before the loop runs (device check at startup); frames() binds it then
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._queue = asyncio.Queue()
        self._closing = False
        self.capture_rate, channels = self._pick_format(
            sd, info.index, info.default_samplerate, info.max_input_channels
        )
        blocksize = frame_samples_for(int(self.frame_samples * 1000 / self.sample_rate), self.capture_rate)
        self._stream = open_stream(sd, "input", info.name, device=info.index, samplerate=self.capture_rate,
                                   channels=channels, blocksize=blocksize, callback=self._callback,
                                   finished_callback=self._finished)

    def _pick_format(self, sd: Any, index: int, default_rate: float, max_channels: int) -> tuple[int, int]:
        """Prefer 16 kHz mono; otherwise capture at the device's own rate (resampled off the callback)."""
        return pick_stream_format(sd.check_input_settings, index, self.sample_rate, default_rate, max_channels, "input")

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: copy the buffer and hand it to the loop; no logging, locks or other allocation."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us during shutdown
                loop.call_soon_threadsafe(self._on_block, indata.copy(), time.monotonic())

    def _finished(self) -> None:
        """PortAudio thread: the stream stopped (closed by us, or the device went away)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._on_finished)

    def _on_block(self, block: Any, captured_at: float) -> None:
        """Loop thread: queue a captured block, dropping the oldest when the consumer is far behind."""
        queue = self._queue
        if queue is None:
            return
        if queue.qsize() >= self._max_queued:
            queue.get_nowait()
            self.dropped_blocks += 1
        queue.put_nowait((block, captured_at))

    def _on_finished(self) -> None:
        """Loop thread: end frames(); an unexpected stop is reported as an AudioDeviceError."""
        if not self._closing:
            self._failure = (
                f"input device {self.name!r} stopped unexpectedly (unplugged or sound server gone)"
            )
        if self._queue is not None:
            self._queue.put_nowait(_END)

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield frames of exactly frame_samples at sample_rate until close(); raises AudioDeviceError on device loss."""
        self.start()
        self._loop = asyncio.get_running_loop()
        assert self._queue is not None
        resampler = StreamResampler(self.capture_rate, self.sample_rate)
        chunker = FrameChunker(self.frame_samples)
        while True:
            item = await self._queue.get()
            if item is _END:
                break
            block, captured_at = item
            for frame in chunker.push_frame(Frame(resampler.process(to_mono(block)), captured_at), self.sample_rate):
                yield frame
        if self._failure:
            raise AudioDeviceError(self._failure)

    def close(self) -> None:
        """Stop capturing; frames() ends after the blocks already queued."""
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            close_stream(stream)
        elif self._queue is not None:
            self._queue.put_nowait(_END)


WaitHook = Callable[[], Awaitable[object]]


class WavFileInput:
    """Feeds WAV files as if spoken into a mic: real-time paced (or as fast as possible), silence between files.

    Between files (and after the last) it feeds at least `gap_s` (`trailing_silence_s` after the
    last) of silence so VAD sees the end of speech, and, when `wait_before_next` is set (an async
    callable, e.g. ``engine_idle_event.wait``), keeps feeding silence in real time until it returns,
    so the next file starts only after kitsu finished replying. `max_wait_s` bounds that wait.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        realtime: bool = True,
        frame_ms: int = 32,
        gap_s: float = 1.0,
        trailing_silence_s: float = 1.0,
        lead_in_s: float = 0.0,
        wait_before_next: WaitHook | None = None,
        max_wait_s: float | None = 60.0,
        sample_rate: int = PIPELINE_RATE,
    ) -> None:
        if not paths:
            raise ValueError("WavFileInput needs at least one WAV file")
        self.paths = [Path(p) for p in paths]
        self.clips = [load_wav(p, sample_rate) for p in self.paths]  # AudioFileError now, not mid-run
        self.realtime = realtime
        self.sample_rate = int(sample_rate)
        self.frame_samples = frame_samples_for(frame_ms, sample_rate)
        self.gap_s, self.trailing_silence_s, self.lead_in_s = gap_s, trailing_silence_s, lead_in_s
        self.wait_before_next = wait_before_next
        self.max_wait_s = max_wait_s
        self.name = "files: " + ", ".join(p.name for p in self.paths)
        self.current_file: Path | None = None
        """The file being fed right now (None during silence)."""
        self.files_done = 0
        self.wait_timeouts = 0
        """How often wait_before_next did not return within max_wait_s."""
        self._closed = False
        self._silence = np.zeros(self.frame_samples, dtype=np.float32)
        self._pacer = FramePacer(self.sample_rate, realtime)

    @property
    def duration_s(self) -> float:
        """Total speech duration of all files."""
        return sum(c.size for c in self.clips) / self.sample_rate

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield every file's frames (last one zero-padded) with silence and waits between them."""
        self._closed = False
        self._pacer = FramePacer(self.sample_rate, self.realtime)
        async for frame in self._silence_frames(self.lead_in_s):
            yield frame
        for index, (path, clip) in enumerate(zip(self.paths, self.clips, strict=True)):
            self.current_file = path
            for samples in padded_frames(clip, self.frame_samples):
                if self._closed:
                    return
                yield await self._pacer.pace(samples)
            self.current_file = None
            self.files_done += 1
            last = index == len(self.clips) - 1
            async for frame in self._pause(self.trailing_silence_s if last else self.gap_s):
                yield frame
            if self._closed:
                return

    async def _pause(self, min_silence_s: float) -> AsyncIterator[Frame]:
        """Silence for at least min_silence_s and, if a hook is set, until it returns (or max_wait_s passes)."""
        hook = self.wait_before_next
        waiter = asyncio.ensure_future(self._bounded(hook())) if hook is not None else None
        try:
            async for frame in self._silence_frames(min_silence_s):
                yield frame
            if waiter is None:
                return
            if not self.realtime:  # fast mode: VAD already saw the end; no need to spin out silence
                await waiter
                return
            while not waiter.done() and not self._closed:
                yield await self._pacer.pace(self._silence.copy())
        finally:
            if waiter is not None and not waiter.done():
                waiter.cancel()

    async def _bounded(self, awaitable: Awaitable[object]) -> None:
        """Await the hook, counting a timeout instead of hanging forever."""
        try:
            await asyncio.wait_for(awaitable, self.max_wait_s)
        except TimeoutError:
            self.wait_timeouts += 1

    async def _silence_frames(self, seconds: float) -> AsyncIterator[Frame]:
        """Yield enough silent frames to cover `seconds`."""
        count = int(np.ceil(max(0.0, seconds) * self.sample_rate / self.frame_samples))
        for _ in range(count):
            if self._closed:
                return
            yield await self._pacer.pace(self._silence.copy())

    def close(self) -> None:
        """Stop feeding; frames() ends at the next frame."""
        self._closed = True
