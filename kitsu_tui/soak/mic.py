"""A scripted microphone: real-time silence, with utterances spoken into it on demand by a soak or bench."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, Audio, Frame
from kitsu_tui.audio.inputs import frame_samples_for


class ScriptedMic:
    """An AudioInput fed like WavFileInput (real-time paced 16 kHz frames), but clip by clip while it runs.

    WavFileInput needs every file up front; a soak cycles utterances for hours and interleaves them
    with chat, so the driver calls `await mic.speak(clip)` whenever the next utterance is due and
    the mic feeds silence in between.
    """

    def __init__(self, frame_ms: int = 32, sample_rate: int = PIPELINE_RATE) -> None:
        self.name = "scripted microphone"
        self.sample_rate = int(sample_rate)
        self.frame_samples = frame_samples_for(frame_ms, sample_rate)
        self._silence = np.zeros(self.frame_samples, dtype=np.float32)
        self._clips: asyncio.Queue[tuple[Audio, asyncio.Future[float]]] = asyncio.Queue()
        self._closed = False
        self._running = asyncio.Event()
        self._started = 0.0
        self._sent = 0

    async def speak(self, clip: Audio) -> float:
        """Feed a 16 kHz clip in real time; returns the monotonic time its last sample was 'spoken'."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        await self._clips.put((np.ascontiguousarray(clip, dtype=np.float32), done))
        return await done

    async def wait_listening(self) -> None:
        """Return once the engine consumes the mic's frames."""
        await self._running.wait()

    async def frames(self) -> AsyncIterator[Frame]:
        """Silence in real time, interrupted by each queued clip (last frame zero-padded)."""
        self._started = time.monotonic()
        self._sent = 0
        self._running.set()
        while not self._closed:
            try:
                clip, done = self._clips.get_nowait()
            except asyncio.QueueEmpty:
                yield await self._paced(self._silence.copy())
                continue
            last = 0.0
            for start in range(0, clip.size, self.frame_samples):
                samples = clip[start : start + self.frame_samples]
                if samples.size < self.frame_samples:
                    samples = np.concatenate((samples, self._silence[: self.frame_samples - samples.size]))
                frame = await self._paced(samples)
                last = frame.captured_at
                yield frame
                if self._closed:
                    break
            if not done.done():
                done.set_result(last)
        while not self._clips.empty():  # nobody will feed these any more
            _, done = self._clips.get_nowait()
            if not done.done():
                done.cancel()

    async def _paced(self, samples: Audio) -> Frame:
        """Wait until the frame's last sample is due by the monotonic clock (as a real mic delivers it)."""
        self._sent += samples.size
        due = self._started + self._sent / self.sample_rate
        delay = due - time.monotonic()
        await asyncio.sleep(delay if delay > 0 else 0)
        return Frame(samples, due)

    def close(self) -> None:
        """Stop feeding; frames() ends at the next frame."""
        self._closed = True
