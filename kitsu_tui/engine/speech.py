"""One reply's sentences on their way to the speakers: parallel synthesis, pre-air holds, ordered playback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from kitsu_tui.backends.base import Audio
from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.events import (
    SentenceQueued,
    SentenceStateChanged,
    SentenceStatus,
    StageError,
    TtsAudioReady,
)
from kitsu_tui.engine.turn import Turn

log = logging.getLogger(__name__)


class SpeechQueue:
    """Synthesizes a reply's sentences as they come and plays them in order; cancel() drops what is left."""

    def __init__(self, ctx: TurnContext, turn: Turn, stale: Callable[[], bool]) -> None:
        self._ctx = ctx
        self._turn = turn
        self._stale = stale
        self._sentences: list[tuple[int, str, asyncio.Task[Audio | None] | None]] = []
        self._held: dict[int, asyncio.Task[bool]] = {}
        """Pre-air hold decisions by sentence index (only for sentences that wait: review or a broadcast delay)."""
        self._queued = asyncio.Event()
        self._closed = False
        self._first_index: int | None = None
        self._slots = asyncio.Semaphore(ctx.settings.tts.workers)
        self.llm_gate = threading.Event()
        """Cleared while the first sentence synthesizes (first_audio_priority): the LLM's thread waits on it."""
        self.llm_gate.set()

    @property
    def next_index(self) -> int:
        """The index the next sentence gets."""
        return len(self._sentences)

    def add_blocked(self, index: int, text: str, rule: str) -> None:
        """A sentence output moderation refused: shown as blocked, never synthesized."""
        self._ctx.emit(SentenceQueued(turn_id=self._turn.turn_id, index=index, text=text))
        self._ctx.emit(SentenceStateChanged(turn_id=self._turn.turn_id, index=index,
                                            status=SentenceStatus.BLOCKED, reason=rule))
        self._sentences.append((index, text, None))

    def add(self, index: int, text: str, hold_origin: str | None = None, review: str | None = None) -> None:
        """Queue a sentence for speech: synthesis starts now; with `hold_origin` it also waits in the pre-air hold."""
        ctx, turn = self._ctx, self._turn
        turn.mark("first_clause")
        if self._first_index is None:
            self._first_index = index
        ctx.emit(SentenceQueued(turn_id=turn.turn_id, index=index, text=text))
        task = asyncio.create_task(self._synthesize(index, text)) if ctx.show.module_on("tts") else None
        if task is not None and index == self._first_index and ctx.settings.engine.first_audio_priority:
            self.llm_gate.clear()  # the first sentence's speech gets the cores; the LLM is far ahead of speech
        if hold_origin is not None:
            self._held[index] = asyncio.create_task(ctx.hold.wait(turn.turn_id, index, text, hold_origin, review),
                                                    name=f"kitsu-hold-{turn.turn_id}-{index}")
        self._sentences.append((index, text, task))
        self._queued.set()

    def close(self) -> None:
        """No more sentences will come."""
        self._closed = True
        self.llm_gate.set()
        self._queued.set()

    def cancel(self) -> None:
        """Drop every synthesis still running (an interrupt)."""
        for _, _, task in self._sentences:
            if task is not None and not task.done():
                task.cancel()

    def dump_held(self) -> None:
        """Dump every sentence still waiting in the pre-air hold (the reply is over)."""
        for held in self._held.values():
            held.cancel()

    async def audible_text(self) -> str:
        """Once every sentence is synthesized: the text that will be heard (what the next prompt expects)."""
        synthesized = [(index, task) for index, _, task in self._sentences if task is not None]
        results = await asyncio.gather(*(task for _, task in synthesized), return_exceptions=True)
        audible = {index for (index, _), result in zip(synthesized, results, strict=True)
                   if result is not None and not isinstance(result, BaseException)}
        return " ".join(text for index, text, _ in self._sentences if index in audible).strip()

    async def _synthesize(self, index: int, text: str) -> Audio | None:
        ctx, turn = self._ctx, self._turn
        try:
            async with self._slots:
                if self._stale():
                    return None
                ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SYNTHESIZING))
                started = time.monotonic()
                audio: Audio = await ctx.tts_worker.call(ctx.backends.tts.synthesize, text, ctx.persona.voice.speed)
                synth_ms = (time.monotonic() - started) * 1000
        finally:
            if index == self._first_index:
                self.llm_gate.set()
        duration = audio.size / ctx.backends.tts.sample_rate
        if index == self._first_index:  # the sentence heard first, not whichever finished synthesis first
            turn.mark("tts_first_audio")
        ctx.emit(TtsAudioReady(turn_id=turn.turn_id, index=index, duration_s=duration, synth_ms=round(synth_ms, 1)))
        ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.READY,
                                      duration_s=duration))
        return audio

    async def play(self) -> None:
        """Await each sentence's audio in order, queue it for playback, then wait for all to be heard."""
        ctx, turn = self._ctx, self._turn
        rate = ctx.backends.tts.sample_rate
        position, pending = 0, []
        while True:
            while position >= len(self._sentences):
                if self._closed:
                    break
                self._queued.clear()
                await self._queued.wait()
            if position >= len(self._sentences):
                break
            index, text, task = self._sentences[position]
            position += 1
            if task is None:
                if not ctx.show.module_on("tts") and not self._stale():
                    turn.spoken.append(text)  # text-only mode: shown, not heard
                continue
            audio, failed = await self._audio(index, task)
            if failed:
                continue
            if audio is None or self._stale():
                ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SKIPPED))
                continue
            if turn.confirmed is not None and not turn.confirmed.done():
                await turn.confirmed  # speculative reply: speak only once the person has really finished
            await ctx.show.wait_until_speech_allowed(self._stale)
            if index in self._held and not self._stale() and not await self._hold_allows(index):
                continue
            if self._stale() or turn.discarded:
                continue
            pending.append(ctx.player.enqueue(turn.turn_id, index, text, audio, rate))
            ctx.recorder.add(turn.turn_id, audio)
        for segment in pending:
            heard = await segment.done
            if segment.started and "first_audio" not in turn.marks:
                turn.mark("first_audio", segment.started_at)
            turn.spoken.append(heard)

    async def _audio(self, index: int, task: asyncio.Task[Audio | None]) -> tuple[Audio | None, bool]:
        """A sentence's audio (None when an interrupt dropped it), and whether synthesis failed (reported here)."""
        try:
            return await task, False
        except asyncio.CancelledError:
            if being_cancelled():
                raise
            return None, False
        except Exception as exc:
            log.exception("TTS failed on sentence %d", index)
            self._ctx.emit(StageError(turn_id=self._turn.turn_id, stage="tts",
                                      message=f"speech synthesis failed: {exc}"))
            self._ctx.emit(SentenceStateChanged(turn_id=self._turn.turn_id, index=index,
                                                status=SentenceStatus.SKIPPED, reason="tts error"))
            return None, True

    async def _hold_allows(self, index: int) -> bool:
        """Wait for a held sentence's fate; a dumped one is skipped and marks the turn flagged."""
        try:
            aired = await self._held[index]
        except asyncio.CancelledError:
            if being_cancelled():
                raise
            aired = False
        if not aired:
            self._turn.flagged = True
            self._ctx.emit(SentenceStateChanged(turn_id=self._turn.turn_id, index=index,
                                                status=SentenceStatus.SKIPPED, reason="dumped"))
        return aired


def being_cancelled() -> bool:
    """True when the running task itself is being cancelled (not merely a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
