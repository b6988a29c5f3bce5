"""Plays reply sentences through an AudioOutput, reports what was actually heard, with lipsync, and rides out
a lost device (its sentences end unheard, the speaker module shows the error, the device is reopened with backoff)."""

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
    ModuleState,
    ModuleStateChanged,
    MouthUpdated,
    Notice,
    PlaybackFinished,
    PlaybackStarted,
    SentenceStateChanged,
    SentenceStatus,
)

log = logging.getLogger(__name__)

SPEAKER = "speaker"
"""The module the show lists for the audio output."""
STALL_S = 1.0
"""Playback not advancing this long while audio is queued means the device is lost."""
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 10.0
"""Reopening a lost device waits 1 s, then doubles up to 10 s between tries."""
LOST_REASON = "audio output lost"
"""The reason of a sentence ended unheard because the device was gone."""

StateSink = Callable[[str, ModuleState, str], None]
"""Records and announces a module's state (the show's set_module_state)."""
NoticeSink = Callable[[str, str], None]
"""Tells the operator one line at a level (the show's notice)."""


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
    placed_at: float = 0.0
    """When its audio was written: it cannot have started playing before that."""
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
        self.lost: str | None = None
        """Why the output device is lost (None while it plays)."""
        self._set_state: StateSink = self._emit_state
        self._notice: NoticeSink = self._emit_notice
        self._progress = (0, time.monotonic())
        """(played samples, when they last changed): the stall watch."""
        self._retry_s = RETRY_FIRST_S
        self._retry_at = 0.0
        self._output_failed = False
        """The output itself reported the loss (its error clearing means the device is back)."""
        self._reopening: asyncio.Task[None] | None = None

    def report_to(self, set_state: StateSink, notice: NoticeSink) -> None:
        """Send the speaker module's state and the loss/recovery notices through the show (else as bare events)."""
        self._set_state, self._notice = set_state, notice

    def _emit_state(self, name: str, state: ModuleState, reason: str) -> None:
        self._emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def _emit_notice(self, level: str, message: str) -> None:
        log.log({"error": logging.ERROR, "warning": logging.WARNING}.get(level, logging.INFO), message)
        self._emit(Notice(level=level, message=message))

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
        self._progress = (self.output.played_samples, time.monotonic())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kitsu-player")

    async def close(self) -> None:
        """Stop the progress task and the output (a reopen in flight included)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.cut()
        self.output.close()  # a reopen in flight sees it and gives up
        if self._reopening is not None:
            await asyncio.wait({self._reopening}, timeout=1.0)
            self.output.close()

    def enqueue(self, turn_id: int, index: int, text: str, audio: Audio, rate: int) -> Segment:
        """Append a sentence after everything queued; await `segment.done` for the played text."""
        audio = resample(audio, rate, self.output.sample_rate)
        segment = Segment(turn_id, index, text, audio)
        self._place(segment)
        return segment

    def _place(self, segment: Segment) -> None:
        """Put a segment on the timeline and write its audio; with the device lost it ends at once, unheard."""
        if self.lost is not None:
            self._finish(segment, "", interrupted=True, reason=LOST_REASON)
            return
        segment.placed_at = time.monotonic()
        segment.start = self._written
        segment.end = segment.start + segment.audio.size
        self._written = segment.end
        self._segments.append(segment)
        try:
            self.output.write(segment.audio)
        except Exception as exc:
            self._lose(str(exc))

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
        return current

    def _finish(self, seg: Segment, heard: str, interrupted: bool, skipped: bool = False, reason: str = "") -> None:
        if seg.done.done():
            return
        if seg.started or heard:
            self._emit(PlaybackFinished(turn_id=seg.turn_id, index=seg.index, played_text=heard,
                                        interrupted=interrupted))
        status = SentenceStatus.SKIPPED if (interrupted or skipped) else SentenceStatus.DONE
        self._emit(SentenceStateChanged(turn_id=seg.turn_id, index=seg.index, status=status, reason=reason,
                                        duration_s=seg.audio.size / self.output.sample_rate))
        seg.done.set_result(heard)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                if self.lost is None and (why := self.output.error or self._stalled()):
                    self._lose(why)
                if self.lost is None:
                    self._advance()
                else:
                    self._maybe_reopen()
            except Exception:
                log.exception("player tick failed")

    def _stalled(self) -> str | None:
        """Why playback counts as stalled: audio is queued and nothing was played for STALL_S."""
        played, now = self.output.played_samples, time.monotonic()
        if played != self._progress[0] or not self._segments or self.output.queued_samples <= 0:
            self._progress = (played, now)
            return None
        stuck = now - self._progress[1]
        return f"playback stalled ({stuck:.1f} s without progress)" if stuck > STALL_S else None

    def _lose(self, why: str) -> None:
        """The device is gone: end every queued segment with what was heard, report it once, plan a reopen."""
        if self.lost is not None:
            return
        self.lost = why
        self._output_failed = self.output.error is not None
        played = self.output.played_samples
        with contextlib.suppress(Exception):
            self.output.clear()
        segments, self._segments = self._segments, []
        for seg in segments:
            self._finish(seg, seg.played_text(played), interrupted=True, reason=LOST_REASON)
        self._update_mouth(force_close=True)
        self._retry_s = RETRY_FIRST_S
        self._retry_at = time.monotonic() + self._retry_s
        self._set_state(SPEAKER, ModuleState.ERROR, f"{LOST_REASON}: {why}; reopening it")
        self._notice("error", f"speakers lost ({why}): replies go on as text while the device is reopened")

    def _maybe_reopen(self) -> None:
        """Start a reopen when the backoff is over, or at once when the output says it is back."""
        if self._reopening is not None:
            return
        failed = self.output.error is not None
        back = self._output_failed and not failed
        self._output_failed = failed
        if back or time.monotonic() >= self._retry_at:
            self._reopening = asyncio.get_running_loop().create_task(self._reopen(), name="kitsu-player-reopen")

    async def _reopen(self) -> None:
        """One try at reopening the device (in a thread: PortAudio blocks); back on success, else back off."""
        try:
            await asyncio.to_thread(self.output.reopen)
        except Exception as exc:
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            self._retry_at = time.monotonic() + self._retry_s
            self._output_failed = self.output.error is not None
            log.info("audio output still lost (%s); next try in %.0f s", exc, self._retry_s)
            return
        finally:
            self._reopening = None
        self.lost = None
        self._written = self.output.played_samples + self.output.queued_samples
        self._progress = (self.output.played_samples, time.monotonic())
        self._set_state(SPEAKER, ModuleState.ON, self.output.name)
        self._notice("info", f"speakers back: {self.output.name}")

    def _advance(self) -> None:
        played = self.output.played_samples
        while self._segments:
            seg = self._segments[0]
            if not seg.started and played > seg.start:
                seg.started = True
                estimate = time.monotonic() - (played - seg.start) / self.output.sample_rate
                seg.started_at = max(estimate, seg.placed_at)  # a coarse played counter must not date it earlier
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
