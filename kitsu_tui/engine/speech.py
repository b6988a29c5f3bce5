"""One reply's sentences on their way to the speakers: parallel synthesis, pre-air holds, ordered playback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from kitsu_tui.audio.resample import resample
from kitsu_tui.backends.base import Audio, TtsBackend
from kitsu_tui.backends.tts_cache import CacheableVoice, TtsCache, cache_key
from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.events import (
    ModuleState,
    SentenceQueued,
    SentenceStateChanged,
    SentenceStatus,
    StageError,
    TtsAudioReady,
)
from kitsu_tui.engine.player import Segment
from kitsu_tui.engine.state import FAILING, ShowState
from kitsu_tui.engine.turn import Turn

log = logging.getLogger(__name__)

DEGRADED = "degraded: "
"""Opens the tts module's reason while its voice fails and a fallback voice speaks (the module stays on)."""
PRIMARY = "voice"
FLOOR_WAIT_S = 1.5
"""Longest a reply's first audio waits while the person may be going on (the listener decides well before)."""
"""The attempt label of the configured voice (tried twice before the fallback voices)."""


class SpeechFailed(RuntimeError):
    """No voice could synthesize a sentence: it is shown (a subtitle), not heard."""


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
        self._tts = ctx.backends.tts
        self._rate = self._tts.sample_rate
        """The voice and rate of the whole turn (a persona switch takes effect with the next turn)."""
        tts = ctx.settings.tts
        self._cache = (TtsCache(tts.resolved_cache_dir(ctx.settings.paths.data_dir), tts.cache_mb * 1024 * 1024)
                       if tts.cache_mb > 0 else None)
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

    def add(self, index: int, text: str, hold_origin: str | None = None, review: str | None = None,
            cacheable: bool = False) -> None:
        """Queue a sentence for speech: synthesis starts now; with `hold_origin` it also waits in the pre-air hold.

        A `cacheable` sentence (a fixed line; every sentence of a fixed-text turn is; a chunk of a word or two) may
        come from the TTS cache.
        """
        ctx, turn = self._ctx, self._turn
        turn.mark("first_clause")
        if self._first_index is None:
            self._first_index = index
        ctx.emit(SentenceQueued(turn_id=turn.turn_id, index=index, text=text))
        cacheable = cacheable or turn.fixed_text or short_line(text, ctx.settings.tts.cache_short_lines)
        task = asyncio.create_task(self._synthesize(index, text, cacheable)) if tts_wanted(ctx.show) else None
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

    async def _synthesize(self, index: int, text: str, cacheable: bool) -> Audio | None:
        ctx, turn = self._ctx, self._turn
        try:
            async with self._slots:
                if self._stale():
                    return None
                ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SYNTHESIZING))
                started = time.monotonic()
                audio = await self._speak(text, cacheable)
                if audio is None:
                    return None
                synth_ms = (time.monotonic() - started) * 1000
        finally:
            if index == self._first_index:
                self.llm_gate.set()
        duration = audio.size / self._rate
        if index == self._first_index:  # the sentence heard first, not whichever finished synthesis first
            turn.mark("tts_first_audio")
        ctx.emit(TtsAudioReady(turn_id=turn.turn_id, index=index, duration_s=duration, synth_ms=round(synth_ms, 1)))
        ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.READY,
                                      duration_s=duration))
        return audio

    async def _speak(self, text: str, cacheable: bool) -> Audio | None:
        """The text's audio at the turn's rate: the voice, the voice once more, then each fallback voice in order.

        Every failed try is a StageError; SpeechFailed when none worked (None once the turn is stale).
        """
        ctx = self._ctx
        settings, speed = ctx.settings.tts, ctx.persona.voice.speed
        cache = self._cache if cacheable else None
        last = ""
        for attempt, voice in enumerate((PRIMARY, PRIMARY, *settings.fallback_voices)):
            if self._stale():
                return None
            try:
                backend = (self._tts if attempt < 2
                           else await ctx.tts_worker.call(ctx.tts_fallbacks.ready, settings, voice))
                audio = await ctx.tts_worker.call(voiced, backend, text, speed, self._rate, cache)
            except Exception as exc:
                log.warning("turn %s: TTS (%s) failed: %s", self._turn.turn_id, voice, exc)
                log.debug("TTS failure", exc_info=True)
                ctx.emit(StageError(turn_id=self._turn.turn_id, stage="tts",
                                    message=f"speech synthesis failed ({voice}): {exc}"[:300]))
                last = f"{type(exc).__name__}: {exc}"[:120]
                continue
            self._health(attempt, voice, last if attempt else "")
            return audio
        self._health(-1, "", last)
        raise SpeechFailed(last)

    def _health(self, attempt: int, voice: str, error: str) -> None:
        """Show a failure streak on the tts module (one alert when it starts); the voice working again ends it.

        `attempt`: 0-1 the voice worked, 2+ fallback `voice` worked, -1 nothing did (subtitles only).
        """
        show = self._ctx.show
        if not tts_wanted(show):
            return  # the operator switched tts off meanwhile: that state stands
        state, reason = show.module_states.get("tts", (ModuleState.OFF, ""))
        streak = reason.startswith(DEGRADED) or state == ModuleState.ERROR
        if attempt in (0, 1):
            if streak:
                show.set_module_state("tts", ModuleState.ON)
                show.notice("info", "tts: the voice works again")
            return
        if attempt >= 2:
            wanted = (ModuleState.ON, f"{DEGRADED}the voice fails ({error}); speaking with fallback voice {voice}")
            alert = ("warning", f"tts: the voice fails ({error}); speaking with fallback voice {voice}")
        else:
            wanted = (ModuleState.ERROR, f"{FAILING}speech synthesis fails ({error}); subtitles only")
            alert = ("error", f"tts: speech synthesis fails ({error}); showing subtitles only until a voice works")
        if (state, reason) != wanted:
            show.set_module_state("tts", *wanted)
        if not streak:
            show.notice(*alert)

    async def play(self) -> None:
        """Await each sentence's audio in order, queue it for playback, then wait for all to be heard (or shown)."""
        ctx, turn = self._ctx, self._turn
        position, pending = 0, list[Segment | str]()
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
                if not tts_wanted(ctx.show) and not self._stale():
                    turn.spoken.append(text)  # text-only mode: shown, not heard
                continue
            audio, failed = await self._audio(index, task)
            if not failed and (audio is None or self._stale()):
                ctx.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SKIPPED))
                continue
            if turn.confirmed is not None and not turn.confirmed.done():
                await turn.confirmed  # speculative reply: speak only once the person has really finished
            await ctx.show.wait_until_speech_allowed(self._stale)
            if index in self._held and not self._stale() and not await self._hold_allows(index):
                continue
            if not turn.floor.is_set():  # the person may be going on: wait until the listener knows
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(turn.floor.wait(), FLOOR_WAIT_S)
            if self._stale() or turn.discarded:
                continue
            if audio is None:
                pending.append(text)  # no voice worked: shown as a subtitle, in its place, not heard
                continue
            pending.append(ctx.player.enqueue(turn.turn_id, index, text, audio, self._rate))
            ctx.recorder.add(turn.turn_id, audio)
        for segment in pending:
            if isinstance(segment, str):
                turn.spoken.append(segment)
                continue
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
            if not isinstance(exc, SpeechFailed):  # SpeechFailed: each failed try was reported as it happened
                log.exception("TTS failed on sentence %d", index)
                self._ctx.emit(StageError(turn_id=self._turn.turn_id, stage="tts",
                                          message=f"speech synthesis failed: {exc}"))
            self._ctx.emit(SentenceStateChanged(turn_id=self._turn.turn_id, index=index,
                                                status=SentenceStatus.SKIPPED, reason="tts error: subtitles only"))
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


def tts_wanted(show: ShowState) -> bool:
    """The tts module is on, or in error only because synthesis failed at run time (each sentence tries again)."""
    state, reason = show.module_states.get("tts", (ModuleState.OFF, ""))
    return state == ModuleState.ON or (state == ModuleState.ERROR and reason.startswith(FAILING))


def short_line(text: str, max_words: int) -> bool:
    """Whether a chunk is short enough to come from the TTS cache: at most `max_words` words, 20 characters."""
    return 0 < len(text.split()) <= max_words and len(text) <= 20


def voiced(backend: TtsBackend, text: str, speed: float, rate: int, cache: TtsCache | None) -> Audio:
    """On the TTS worker: the text's audio from the cache or the backend (then cached), resampled to `rate`."""
    audio: Audio | None = None
    if cache is not None and isinstance(backend, CacheableVoice):
        identity = backend.cache_identity()
        key = cache_key(identity, text, speed)
        audio = cache.get(key)
        if audio is None:
            audio = backend.synthesize(text, speed)
            cache.put(key, audio, text, identity)
    if audio is None:
        audio = backend.synthesize(text, speed)
    return audio if backend.sample_rate == rate else resample(audio, backend.sample_rate, rate)
