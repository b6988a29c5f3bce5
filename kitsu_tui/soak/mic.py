"""A scripted microphone: real-time silence, with utterances spoken into it on demand by a soak or bench."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, Audio, Frame
from kitsu_tui.audio.inputs import FramePacer, frame_samples_for, padded_frames


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
        self._pacer = FramePacer(self.sample_rate)

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
        self._pacer = FramePacer(self.sample_rate)
        self._running.set()
        while not self._closed:
            try:
                clip, done = self._clips.get_nowait()
            except asyncio.QueueEmpty:
                yield await self._pacer.pace(self._silence.copy())
                continue
            last = 0.0
            for samples in padded_frames(clip, self.frame_samples):
                frame = await self._pacer.pace(samples)
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

    def close(self) -> None:
        """Stop feeding; frames() ends at the next frame."""
        self._closed = True
