"""One reply turn: LLM tokens -> mood filter -> chunker -> moderation -> parallel TTS -> ordered playback."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kitsu_tui.backends.base import GenerationParams
from kitsu_tui.engine.chunker import SentenceChunker
from kitsu_tui.engine.events import (
    LlmFinished,
    LlmStarted,
    LlmToken,
    ModerationDecided,
    MoodChanged,
    SentenceQueued,
    SentenceStateChanged,
    SentenceStatus,
    Source,
    StageError,
    TtsAudioReady,
)
from kitsu_tui.engine.hygiene import ReplyHygiene, is_greeting

if TYPE_CHECKING:
    from kitsu_tui.engine.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class Turn:
    """A turn's input, its identity and everything measured while it runs."""

    turn_id: int
    source: Source
    text: str
    author: str = ""
    arrived: float = field(default_factory=time.monotonic)
    speech_start: float | None = None
    endpointed_at: float | None = None
    asr_ms: float | None = None
    generation: int = 0
    reply: str = ""
    spoken: list[str] = field(default_factory=list)
    interrupted: bool = False
    mood: str = "neutral"
    moderation: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    error: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    utterance_id: int = 0
    confirmed: asyncio.Future[bool] | None = None
    """Set for a reply started during the endpointing silence: its audio waits until the endpoint confirms it."""
    discarded: bool = False
    """A speculative reply whose speaker went on talking: it leaves no record and no history."""
    prepared: bool = False
    """The next turn's LLM work (memory summary, cache warm-up) already ran while this reply played."""
    warmed_for: str | None = None
    """The spoken text the LLM's cache was filled for during playback (no second warm-up when it was all heard)."""
    origin: str = ""
    """Where the input came from for the pre-air hold (voice, chat, twitch, operator, say, idle); "" = the source."""
    flagged: bool = False
    """Output moderation blocked or held a sentence, or the operator dumped one: the exchange stays out of history."""

    def mark(self, name: str, at: float | None = None) -> None:
        """Record the first time a milestone happened."""
        self.marks.setdefault(name, at if at is not None else time.monotonic())

    def latency_ms(self) -> dict[str, float]:
        """Per-stage latencies in milliseconds (only those that happened)."""
        m, out = self.marks, {}

        def span(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 1)

        figures = {
            "endpointing": span(self.arrived, self.endpointed_at) if self.source == Source.VOICE else None,
            "asr_final": self.asr_ms,
            "llm_first_token": span(m.get("llm_start"), m.get("llm_first_token")),
            "first_clause": span(m.get("llm_start"), m.get("first_clause")),
            "tts_first_audio": span(m.get("first_clause"), m.get("tts_first_audio")),
            "first_audio": span(self.arrived, m.get("first_audio")),
            "total": span(self.arrived, m.get("end")),
        }
        for key, value in figures.items():
            if value is not None:
                out[key] = round(value, 1)
        return out

    def record(self) -> dict[str, Any]:
        """The JSON line printed for this turn by `kitsu run --headless`."""
        return {
            "turn": self.turn_id,
            "source": "voice" if self.source == Source.VOICE else "chat",
            "origin": self.origin or str(self.source),
            "author": self.author,
            "transcript": self.text,
            "reply": self.reply.strip(),
            "spoken": " ".join(s for s in self.spoken if s).strip(),
            "interrupted": self.interrupted,
            "mood": self.mood,
            "moderation": self.moderation,
            "error": self.error,
            "latency_ms": self.latency_ms(),
        }


class TurnRunner:
    """Runs one turn against the engine's backends; stale work (interrupted generation) is dropped."""

    def __init__(self, engine: Engine, turn: Turn) -> None:
        self.engine = engine
        self.turn = turn
        s = engine.settings.engine
        self.chunker = SentenceChunker(s.first_chunk_min_chars, s.max_chunk_chars, s.first_chunk_max_chars)
        self._synth: list[tuple[int, str, asyncio.Task[Any] | None]] = []
        self._held: dict[int, asyncio.Task[bool]] = {}
        """Pre-air hold decisions by sentence index (only for sentences that wait: review or a broadcast delay)."""
        self._queued = asyncio.Event()
        self._llm_done = False
        self._safe_line_used = False
        self._first_index: int | None = None
        self._tts_slots = asyncio.Semaphore(engine.settings.tts.workers)
        self.preparing: asyncio.Task[None] | None = None
        """The next turn's LLM work, started once this reply is synthesized (see Engine.prepare_next)."""
        self._llm_gate = threading.Event()  # cleared while the first sentence synthesizes (first_audio_priority)
        self._llm_gate.set()
        persona = engine.persona
        logins = {str(r.get("author", "")) for r in engine.records[-100:] if r.get("source") == "chat"}
        self.hygiene = ReplyHygiene((persona.name, persona.shown_name), turn.author, is_greeting(turn.text),
                                    engine.recent_replies, enabled=turn.source != Source.SAY, logins=logins)
        """Drops speaker labels, invented dialogue, unasked logins and repeated sentences before speech."""

    @property
    def generating(self) -> bool:
        """True until the LLM's part of the turn is over (TTS and playback may still run)."""
        return not self._llm_done

    @property
    def stale(self) -> bool:
        """True once the turn was interrupted."""
        return self.turn.generation != self.engine.generation or self.turn.stop.is_set()

    async def run(self) -> None:
        """Generate (or take verbatim) the reply, speak it, and wait until it has been played."""
        player_task = asyncio.create_task(self._play_in_order(), name=f"kitsu-play-{self.turn.turn_id}")
        try:
            if self.turn.source == Source.SAY:
                self.turn.reply = self.turn.text
                for chunk in self.chunker.feed(self.turn.text + " ") + self.chunker.flush():
                    self._queue_sentence(chunk)
            else:
                await self._generate()
            self._llm_done = True
            # engine.spawn: a shutdown cancels it before memory closes (it may outlive the turn by seconds)
            self.preparing = self.engine.spawn(self._prepare_next(), f"kitsu-prepare-{self.turn.turn_id}")
        except Exception as exc:
            log.exception("turn %s failed", self.turn.turn_id)
            self.turn.error = f"{type(exc).__name__}: {exc}"
            self.engine.emit(StageError(turn_id=self.turn.turn_id, stage="llm", message=str(exc)))
        finally:
            self._llm_gate.set()
            self._llm_done = True
            self._queued.set()
            try:
                await player_task
            except asyncio.CancelledError:
                if _being_cancelled():
                    player_task.cancel()  # the engine is stopping: end playback bookkeeping too
                    if self.preparing is not None:
                        self.preparing.cancel()
                    raise
            finally:
                for _, _, task in self._synth:
                    if task is not None and not task.done():
                        task.cancel()
                for held in self._held.values():
                    held.cancel()  # an interrupted reply's held sentences are dumped
                if self.preparing is not None and self.stale:
                    self.preparing.cancel()  # an interrupted reply: the conversation will not be what it expected

    def _params(self) -> GenerationParams:
        """Sampling, stop strings, mood constraint and repetition damping for this reply (persona [llm])."""
        engine = self.engine
        spec = engine.persona.llm
        return GenerationParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p,
            repeat_penalty=spec.repeat_penalty, presence_penalty=spec.presence_penalty,
            frequency_penalty=spec.frequency_penalty, stop=engine.prompt.stop_sequences(),
            mood_tags=engine.persona.mood_names if spec.mood_tag else (), avoid=tuple(engine.recent_replies),
        )

    async def _generate(self) -> None:
        engine, turn = self.engine, self.turn
        messages = await engine.build_prompt(turn)
        params = self._params()
        budget = engine.persona.llm.max_sentences
        enough = threading.Event()  # the reply's sentence budget is spent: the LLM stops, the turn goes on
        mood_filter = engine.new_mood_filter()
        turn.mark("llm_start")
        engine.emit(LlmStarted(turn_id=turn.turn_id))
        tokens = 0
        mood_sent = False
        llm = engine.backends.llm

        def should_stop() -> bool:
            return turn.stop.is_set() or enough.is_set()

        def make_iter() -> Any:
            return gated(llm.stream(messages, params, should_stop), self._llm_gate, turn.stop)

        async for piece in engine.llm_worker.stream(make_iter, turn.stop):
            if self.stale:
                break
            tokens += 1
            turn.mark("llm_first_token")
            turn.reply += piece
            engine.emit(LlmToken(turn_id=turn.turn_id, text=piece))
            visible = mood_filter.feed(piece) if mood_filter else piece
            if mood_filter and not mood_sent and mood_filter.mood_decided:
                mood_sent = True
                self._set_mood(mood_filter.mood, tuple(mood_filter.actions))
            for chunk in self.chunker.feed(visible):
                self._queue_sentence(chunk)
            if self.hygiene.sentences >= budget:
                enough.set()
                self._llm_gate.set()  # let the LLM's thread see the stop now, not after the first sentence's speech
                break
        if not self.stale:
            tail = mood_filter.finish() if mood_filter else ""
            if mood_filter and not mood_sent:
                self._set_mood(mood_filter.mood, tuple(mood_filter.actions))
            if enough.is_set():
                self.chunker.reset()  # the start of a sentence past the budget is never spoken
            else:
                for chunk in self.chunker.feed(tail) + self.chunker.flush():
                    self._queue_sentence(chunk)
            self.hygiene.end_sentence()
        elapsed = time.monotonic() - turn.marks["llm_start"]
        first = turn.marks.get("llm_first_token")
        ttft = (first - turn.marks["llm_start"]) * 1000 if first else 0.0
        engine.emit(LlmFinished(turn_id=turn.turn_id, text=turn.reply, tokens=tokens, ttft_ms=round(ttft, 1),
                                tokens_per_s=round(tokens / elapsed, 1) if elapsed > 0 else 0.0,
                                stopped=self.stale))

    def _set_mood(self, mood: str, actions: tuple[str, ...]) -> None:
        self.turn.mood = mood
        self.engine.emit(MoodChanged(turn_id=self.turn.turn_id, mood=mood, actions=actions))

    def _queue_sentence(self, text: str) -> None:
        if self.stale:
            return
        text = self.hygiene.clean(text)
        if not text:
            return
        engine, turn = self.engine, self.turn
        index = len(self._synth)
        review: str | None = None
        entry: dict[str, Any] | None = None
        gate_started = time.perf_counter()
        decision = engine.moderate_output(text, turn.text if turn.source != Source.SAY else "")
        if decision is not None:
            if decision.allowed and decision.rule == "empty":
                return  # nothing speakable left once cleaned
            text = decision.text if decision.allowed or decision.held else text
            entry = {"stage": "output", "action": decision.action, "rule": decision.rule, "text": text,
                     "ms": decision.ms, "hash": decision.digest}
            turn.moderation.append(entry)
            engine.emit(ModerationDecided(turn_id=turn.turn_id, stage="output", action=decision.action,
                                          rule=decision.rule, text=text, detail=decision.detail,
                                          text_hash=decision.digest, ms=decision.ms))
            if decision.held:
                turn.flagged = True
                review = f"review: {decision.rule} ({decision.detail})"
            elif not decision.allowed:
                turn.flagged = True
                engine.emit(SentenceQueued(turn_id=turn.turn_id, index=index, text=text))
                engine.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index,
                                                 status=SentenceStatus.BLOCKED, reason=decision.rule))
                self._synth.append((index, text, None))
                if self._safe_line_used:
                    return
                self._safe_line_used = True
                text, index = engine.persona.safe_line, index + 1
        origin = turn.origin or str(turn.source)
        wait = engine.hold.needed(origin, review)
        if entry is not None:  # what the safety gate (moderation + hold decision, not the hold's wait) added
            entry["gate_ms"] = round((time.perf_counter() - gate_started) * 1000, 3)
        turn.mark("first_clause")
        if self._first_index is None:
            self._first_index = index
        engine.emit(SentenceQueued(turn_id=turn.turn_id, index=index, text=text))
        task = asyncio.create_task(self._synthesize(index, text)) if engine.module_on("tts") else None
        if task is not None and index == self._first_index and engine.settings.engine.first_audio_priority:
            self._llm_gate.clear()  # the first sentence's speech gets the cores; the LLM is far ahead of speech
        if wait:
            self._held[index] = asyncio.create_task(engine.hold.wait(turn.turn_id, index, text, origin, review),
                                                    name=f"kitsu-hold-{turn.turn_id}-{index}")
        self._synth.append((index, text, task))
        self._queued.set()

    async def _synthesize(self, index: int, text: str) -> Any:
        engine, turn = self.engine, self.turn
        try:
            async with self._tts_slots:
                if self.stale:
                    return None
                engine.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index,
                                                 status=SentenceStatus.SYNTHESIZING))
                started = time.monotonic()
                audio = await engine.tts_worker.call(engine.backends.tts.synthesize, text,
                                                     engine.persona.voice.speed)
                synth_ms = (time.monotonic() - started) * 1000
        finally:
            if index == self._first_index:
                self._llm_gate.set()
        duration = audio.size / engine.backends.tts.sample_rate
        if index == self._first_index:  # the sentence heard first, not whichever finished synthesis first
            turn.mark("tts_first_audio")
        engine.emit(TtsAudioReady(turn_id=turn.turn_id, index=index, duration_s=duration, synth_ms=round(synth_ms, 1)))
        engine.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.READY,
                                         duration_s=duration))
        return audio

    async def _prepare_next(self) -> None:
        """Once every sentence is synthesized, let the engine do the next turn's LLM work while this one plays."""
        synthesized = [(index, task) for index, _, task in self._synth if task is not None]
        results = await asyncio.gather(*(task for _, task in synthesized), return_exceptions=True)
        if self.turn.confirmed is not None:
            await asyncio.shield(self.turn.confirmed)
        if self.stale or self.turn.discarded:
            return
        audible = {index for (index, _), result in zip(synthesized, results, strict=True)
                   if result is not None and not isinstance(result, BaseException)}
        expected = " ".join(text for index, text, _ in self._synth if index in audible).strip()
        self.turn.prepared = True
        await self.engine.prepare_next(self.turn, expected)

    async def _play_in_order(self) -> None:
        """Await each sentence's audio in order, queue it for playback, then wait for all to be heard."""
        engine, turn = self.engine, self.turn
        position, pending = 0, []
        while True:
            while position >= len(self._synth):
                if self._llm_done:
                    break
                self._queued.clear()
                await self._queued.wait()
            if position >= len(self._synth):
                break
            index, text, task = self._synth[position]
            position += 1
            if task is None:
                if engine.module_on("tts") is False and not self.stale:
                    turn.spoken.append(text)  # text-only mode: shown, not heard
                continue
            try:
                audio = await task
            except asyncio.CancelledError:
                if _being_cancelled():
                    raise
                audio = None  # an interrupt dropped this sentence's synthesis
            except Exception as exc:
                log.exception("TTS failed on sentence %d", index)
                engine.emit(StageError(turn_id=turn.turn_id, stage="tts", message=f"speech synthesis failed: {exc}"))
                engine.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SKIPPED,
                                                 reason="tts error"))
                continue
            if audio is None or self.stale:
                engine.emit(SentenceStateChanged(turn_id=turn.turn_id, index=index, status=SentenceStatus.SKIPPED))
                continue
            if turn.confirmed is not None and not turn.confirmed.done():
                await turn.confirmed  # speculative reply: speak only once the person has really finished
            await engine.wait_until_speech_allowed(self)
            if index in self._held and not self.stale and not await self._hold_allows(index):
                continue
            if self.stale or turn.discarded:
                continue
            pending.append(engine.player.enqueue(turn.turn_id, index, text, audio, engine.backends.tts.sample_rate))
            engine.recorder_add(turn, audio, engine.backends.tts.sample_rate)
        for segment in pending:
            heard = await segment.done
            if segment.started and "first_audio" not in turn.marks:
                turn.mark("first_audio", segment.started_at)
            turn.spoken.append(heard)


    async def _hold_allows(self, index: int) -> bool:
        """Wait for a held sentence's fate; a dumped one is skipped and marks the turn flagged."""
        try:
            aired = await self._held[index]
        except asyncio.CancelledError:
            if _being_cancelled():
                raise
            aired = False
        if not aired:
            self.turn.flagged = True
            self.engine.emit(SentenceStateChanged(turn_id=self.turn.turn_id, index=index,
                                                  status=SentenceStatus.SKIPPED, reason="dumped"))
        return aired


def gated(pieces: Iterator[str], gate: threading.Event, stop: threading.Event,
          max_wait_s: float = 2.0) -> Iterator[str]:
    """Yield `pieces`, and before asking for the next one wait (in the LLM's thread) while `gate` is cleared.

    On a 2-core CPU the first sentence synthesizes in ~90 ms alone but ~250 ms while llama.cpp decodes
    on the same cores; the LLM runs far ahead of speech, so pausing it for that moment costs nothing heard.
    """
    for piece in pieces:
        yield piece
        deadline = time.monotonic() + max_wait_s
        while not gate.wait(0.01) and not stop.is_set() and time.monotonic() < deadline:
            pass


def _being_cancelled() -> bool:
    """True when the running task itself is being cancelled (not merely a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
