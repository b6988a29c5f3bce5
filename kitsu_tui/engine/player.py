"""Plays reply sentences through an AudioOutput and reports what was actually heard, with lipsync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kitsu_tui.audio.base import Audio, AudioOutput
from kitsu_tui.audio.resample import resample
from kitsu_tui.engine.api import Analyzer
from kitsu_tui.engine.events import (
    Event,
    MouthUpdated,
    PlaybackFinished,
    PlaybackStarted,
    SentenceStateChanged,
    SentenceStatus,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Segment:
    """One sentence's audio placed on the output's sample timeline."""

    turn_id: int
    index: int
    text: str
    audio: Audio
    start: int = 0
    end: int = 0
    started: bool = False
    started_at: float = 0.0
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def played_text(self, played_samples: int) -> str:
        """The words heard so far: whole text when finished, a proportional prefix when cut."""
        if played_samples >= self.end:
            return self.text
        if played_samples <= self.start or self.end <= self.start:
            return ""
        fraction = (played_samples - self.start) / (self.end - self.start)
        words = self.text.split()
        return " ".join(words[: int(len(words) * fraction)])


class Player:
    """Queues sentence audio back to back, tracks playback progress at ~40 Hz and emits lipsync."""

    def __init__(self, output: AudioOutput, emit: Callable[[Event], None], analyzer: Analyzer | None = None,
                 tick_s: float = 0.025) -> None:
        self.output = output
        self._emit = emit
        self._analyzer = analyzer
        self._tick_s = tick_s
        self._segments: list[Segment] = []
        self._written = 0
        self._task: asyncio.Task[None] | None = None
        self._mouth_open = False

    @property
    def busy(self) -> bool:
        """True while any segment is queued or playing."""
        return bool(self._segments)

    @property
    def current(self) -> Segment | None:
        """The segment playing now, if any."""
        return next((s for s in self._segments if s.started), None)

    def start(self) -> None:
        """Start the output and the progress task."""
        self.output.start()
        self._written = self.output.played_samples + self.output.queued_samples
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kitsu-player")

    async def close(self) -> None:
        """Stop the progress task and the output."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.cut()
        self.output.close()

    def enqueue(self, turn_id: int, index: int, text: str, audio: Audio, rate: int) -> Segment:
        """Append a sentence after everything queued; await `segment.done` for the played text."""
        audio = resample(audio, rate, self.output.sample_rate)
        segment = Segment(turn_id, index, text, audio)
        self._place(segment)
        self._segments.append(segment)
        return segment

    def _place(self, segment: Segment) -> None:
        segment.start = self._written
        segment.end = segment.start + segment.audio.size
        self._written = segment.end
        self.output.write(segment.audio)

    def cut(self, turn_id: int | None = None) -> list[tuple[Segment, str]]:
        """Stop playback now (all segments, or those of turn_id); returns each cut segment and its heard text."""
        played = self.output.played_samples
        self.output.clear()
        self._written = self.output.played_samples + self.output.queued_samples
        cut: list[Segment] = []
        keep: list[Segment] = []
        for seg in self._segments:
            (cut if turn_id is None or seg.turn_id == turn_id else keep).append(seg)
        for seg in cut:
            self._finish(seg, seg.played_text(played), interrupted=True)
        self._segments = []
        for seg in keep:  # other turns' audio goes back on the timeline
            self._place(seg)
            self._segments.append(seg)
        self._update_mouth(force_close=not self._segments)
        return [(seg, seg.played_text(played)) for seg in cut]

    def skip_current(self) -> Segment | None:
        """Drop only the sentence playing now; the ones after it still play."""
        current = self.current or (self._segments[0] if self._segments else None)
        if current is None:
            return None
        played = self.output.played_samples
        rest = [s for s in self._segments if s is not current]
        self.output.clear()
        self._written = self.output.played_samples + self.output.queued_samples
        self._segments = []
        self._finish(current, current.played_text(played), interrupted=True, skipped=True)
        for seg in rest:
            seg.started = False
            self._place(seg)
            self._segments.append(seg)
        return current

    def _finish(self, seg: Segment, heard: str, interrupted: bool, skipped: bool = False) -> None:
        if seg.done.done():
            return
        if seg.started or heard:
            self._emit(PlaybackFinished(turn_id=seg.turn_id, index=seg.index, played_text=heard,
                                        interrupted=interrupted))
        status = SentenceStatus.SKIPPED if (interrupted or skipped) else SentenceStatus.DONE
        self._emit(SentenceStateChanged(turn_id=seg.turn_id, index=seg.index, status=status,
                                        duration_s=seg.audio.size / self.output.sample_rate))
        seg.done.set_result(heard)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                self._advance()
            except Exception:
                log.exception("player tick failed")

    def _advance(self) -> None:
        played = self.output.played_samples
        while self._segments:
            seg = self._segments[0]
            if not seg.started and played > seg.start:
                seg.started = True
                seg.started_at = time.monotonic() - (played - seg.start) / self.output.sample_rate
                self._emit(SentenceStateChanged(turn_id=seg.turn_id, index=seg.index,
                                                status=SentenceStatus.PLAYING,
                                                duration_s=seg.audio.size / self.output.sample_rate))
                self._emit(PlaybackStarted(turn_id=seg.turn_id, index=seg.index, text=seg.text))
            if played >= seg.end:
                self._segments.pop(0)
                self._finish(seg, seg.text, interrupted=False)
                continue
            break
        self._update_mouth()

    def _update_mouth(self, force_close: bool = False) -> None:
        if self._analyzer is None:
            return
        if force_close or not self._segments:
            if self._mouth_open:
                self._mouth_open = False
                self._emit(MouthUpdated(value=0.0))
            return
        value, vowels = self._analyzer(self.output.last_block(), self.output.sample_rate)
        self._mouth_open = True
        turn = self._segments[0].turn_id
        self._emit(MouthUpdated(turn_id=turn, value=value, vowels=vowels))
