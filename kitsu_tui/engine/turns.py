"""One reply turn: LLM tokens -> mood filter -> chunker -> hygiene -> output moderation -> the speech queue."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator

from kitsu_tui.backends.base import GenerationParams, MessageEndReader
from kitsu_tui.engine.chunker import SentenceChunker, ends_sentence
from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.events import (
    LlmFinished,
    LlmStarted,
    LlmToken,
    ModerationDecided,
    MoodChanged,
    Source,
    StageError,
)
from kitsu_tui.engine.hygiene import ReplyHygiene, is_greeting
from kitsu_tui.engine.mood import MoodFilter
from kitsu_tui.engine.speech import SpeechQueue, being_cancelled
from kitsu_tui.engine.turn import Turn

log = logging.getLogger(__name__)


class TurnRunner:
    """Runs one turn with what its context hands it; once cancelled (interrupted) its work is dropped."""

    def __init__(self, ctx: TurnContext, turn: Turn) -> None:
        self.ctx = ctx
        self.turn = turn
        s = ctx.settings.engine
        self.chunker = SentenceChunker(s.first_chunk_min_chars, s.max_chunk_chars, s.first_chunk_max_chars,
                                       0 if turn.fixed_text else s.first_phrase_chars)
        """A fixed line (/say, idle) is all there at once: only an LLM reply's first sentence is cut at a phrase."""
        self.speech = SpeechQueue(ctx, turn, lambda: self.stale)
        self.sampling = ctx.persona.sampling()
        """This reply's sampling (the persona is fixed for the turn): computed once."""
        self._llm_done = False
        self._safe_line_used = False
        self._fragment = ""
        """The chunks of the sentence being spoken so far (a first chunk cut at a clause or a phrase): the next
        chunk is also moderated joined to them, so a sentence cut in two is judged whole."""
        self.preparing: asyncio.Task[None] | None = None
        """The next turn's LLM work, started once this reply is synthesized (see Conversation.prepare_next)."""
        persona = ctx.persona
        self.hygiene = ReplyHygiene((persona.name, persona.shown_name), turn.author, is_greeting(turn.text),
                                    ctx.conversation.recent_replies, enabled=turn.source != Source.SAY,
                                    logins=set(ctx.chat_logins))
        """Drops speaker labels, invented dialogue, unasked logins and repeated sentences before speech."""

    @property
    def generating(self) -> bool:
        """True until the LLM's part of the turn is over (TTS and playback may still run)."""
        return not self._llm_done

    @property
    def stale(self) -> bool:
        """True once the turn was interrupted."""
        return self.turn.stop.is_set()

    def cancel(self) -> None:
        """Interrupt: the LLM's stop flag, the chunker reset, every synthesis still running dropped."""
        self.turn.interrupted = True
        self.turn.stop.set()
        self.chunker.reset()
        self.speech.cancel()

    async def run(self) -> None:
        """Generate (or take verbatim) the reply, speak it, and wait until it has been played."""
        player_task = asyncio.create_task(self.speech.play(), name=f"kitsu-play-{self.turn.turn_id}")
        try:
            if self.turn.source == Source.SAY:
                self.turn.reply = self.turn.text
                for chunk in self.chunker.feed(self.turn.text + " ") + self.chunker.flush():
                    self._queue_sentence(chunk)
            elif not await self._generate_or_fall_back():
                return
            self._llm_done = True
            # ctx.spawn: a shutdown cancels it before memory closes (it may outlive the turn by seconds)
            self.preparing = self.ctx.spawn(self._prepare_next(), f"kitsu-prepare-{self.turn.turn_id}")
        finally:
            self._llm_done = True
            self.speech.close()
            try:
                await player_task
                await self._settled()
            except asyncio.CancelledError:
                if being_cancelled():
                    player_task.cancel()  # the engine is stopping: end playback bookkeeping too
                    if self.preparing is not None:
                        self.preparing.cancel()
                    raise
            finally:
                settle_verdict(self.turn.message_end, None)  # never left pending: the listener falls back
                self.speech.cancel()
                self.speech.dump_held()  # an interrupted reply's held sentences are dumped
                if self.preparing is not None and self.stale:
                    self.preparing.cancel()  # an interrupted reply: the conversation will not be what it expected

    async def _generate_or_fall_back(self) -> bool:
        """Generate after the LLM's backoff; on a failure say the persona's fallback line if nothing was queued yet.

        False when the LLM failed: the record keeps the error, the exchange stays out of history.
        """
        health, turn = self.ctx.llm_health, self.turn
        await health.wait(lambda: self.stale)
        try:
            await self._generate()
            if self._said_nothing():
                log.warning("turn %s: the reply had nothing to say (%d characters); asking once more",
                            turn.turn_id, len(turn.reply))
                turn.reply += "\n"
                self.chunker.reset()
                await self._generate()
        except Exception as exc:
            log.warning("turn %s: the LLM failed (%s); saying the fallback line", turn.turn_id, exc)
            log.debug("LLM failure", exc_info=True)
            turn.error = f"{type(exc).__name__}: {exc}"
            self.ctx.emit(StageError(turn_id=turn.turn_id, stage="llm", message=str(exc)))
            health.failed(turn.error)
            if self.speech.next_index == 0:
                self._say_fallback_line()
            return False
        health.succeeded()
        if self._said_nothing():  # twice: a mood tag alone, or only words hygiene drops; never silence
            log.warning("turn %s: the reply had nothing to say again; saying the fallback line", turn.turn_id)
            turn.unanswered = True
            self._say_fallback_line()
            return False
        return True

    def _say_fallback_line(self) -> None:
        """The persona's fallback line, verbatim, through output moderation and the hold like any sentence."""
        self._queue_sentence(self.ctx.persona.llm_fallback_line, verbatim=True)

    async def _settled(self) -> None:
        """A speculative reply ends only once its endpoint settles (confirmed, or discarded when the person went
        on), so one with nothing to play is not recorded ahead of its utterance; an interrupt ends the wait."""
        confirmed = self.turn.confirmed
        while confirmed is not None and not confirmed.done() and not self.stale:
            await asyncio.wait({confirmed}, timeout=0.05)

    def _said_nothing(self) -> bool:
        """The LLM's reply ended without one sentence queued for speech (and the turn was not interrupted)."""
        return not self.stale and self.speech.next_index == 0

    def _params(self) -> GenerationParams:
        """Sampling, stop strings, mood constraint and repetition damping for this reply (persona [llm])."""
        persona = self.ctx.persona
        spec, sampling = persona.llm, self.sampling
        return GenerationParams(
            max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
            repeat_penalty=spec.repeat_penalty, presence_penalty=spec.presence_penalty,
            frequency_penalty=spec.frequency_penalty, stop=self.ctx.conversation.stop_sequences(),
            mood_tags=persona.mood_names if spec.mood_tag else (),
            avoid=tuple(self.ctx.conversation.recent_replies),
            on_message_end=self._message_end_reporter(),
        )

    def _message_end_reporter(self) -> Callable[[float | None], None] | None:
        """For a speculative voice reply under the sentence rule: the callback that hands the listener P(the
        transcript is a whole message) from the LLM's thread; the verdict is cancelled when this LLM cannot tell."""
        verdict = self.turn.message_end
        if verdict is None or verdict.done():
            return None
        llm = self.ctx.backends.llm
        if not (isinstance(llm, MessageEndReader) and llm.message_end_ready()):
            verdict.cancel()
            return None
        loop = asyncio.get_running_loop()

        def report(prob: float | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody waits for the verdict
                loop.call_soon_threadsafe(settle_verdict, verdict, prob)

        return report

    async def _generate(self) -> None:
        ctx, turn = self.ctx, self.turn
        messages = await ctx.conversation.messages(turn)
        params = self._params()
        budget = self.sampling.max_sentences
        enough = threading.Event()  # the reply's sentence budget is spent: the LLM stops, the turn goes on
        mood_filter = MoodFilter(ctx.persona.mood_names)
        turn.mark("llm_start")
        ctx.emit(LlmStarted(turn_id=turn.turn_id))
        tokens = 0
        mood_sent = False
        llm, gate = ctx.backends.llm, self.speech.llm_gate

        def should_stop() -> bool:
            return turn.stop.is_set() or enough.is_set()

        def make_iter() -> Iterator[str]:
            return gated(llm.stream(messages, params, should_stop), gate, turn.stop)

        async for piece in ctx.llm_worker.stream(make_iter, turn.stop):
            if self.stale:
                break
            tokens += 1
            turn.mark("llm_first_token")
            turn.reply += piece
            ctx.emit(LlmToken(turn_id=turn.turn_id, text=piece))
            visible = mood_filter.feed(piece)
            if not mood_sent and mood_filter.mood_decided:
                mood_sent = True
                self._set_mood(mood_filter.mood, tuple(mood_filter.actions))
            for chunk in self.chunker.feed(visible):
                self._queue_sentence(chunk)
            if self.hygiene.sentences >= budget:
                enough.set()
                gate.set()  # let the LLM's thread see the stop now, not after the first sentence's speech
                break
        if not self.stale:
            tail = mood_filter.finish()
            if not mood_sent:
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
        ctx.emit(LlmFinished(turn_id=turn.turn_id, text=turn.reply, tokens=tokens, ttft_ms=round(ttft, 1),
                             tokens_per_s=round(tokens / elapsed, 1) if elapsed > 0 else 0.0, stopped=self.stale))

    def _set_mood(self, mood: str, actions: tuple[str, ...]) -> None:
        self.turn.mood = mood
        self.ctx.emit(MoodChanged(turn_id=self.turn.turn_id, mood=mood, actions=actions))

    def _queue_sentence(self, text: str, verbatim: bool = False) -> None:
        """Clean a sentence (unless `verbatim`), pass it through output moderation and the hold, and queue it for speech."""
        if self.stale:
            return
        text = text if verbatim else self.hygiene.clean(text)
        if not text:
            return
        ctx, turn = self.ctx, self.turn
        index = self.speech.next_index
        review: str | None = None
        entry: dict[str, object] | None = None
        gate_started = time.perf_counter()
        context = turn.text if turn.source != Source.SAY else ""
        decision = ctx.moderate_output(text, context)
        if decision is not None and decision.allowed and not decision.held and self._fragment:
            whole = ctx.moderate_output(f"{self._fragment} {text}", context)
            if whole is not None and (not whole.allowed or whole.held):  # the sentence is what is judged, not its parts
                decision = dataclasses.replace(whole, text=decision.text)
        self._fragment = "" if ends_sentence(text) else f"{self._fragment} {text}".strip()
        if decision is not None:
            if decision.allowed and decision.rule == "empty":
                return  # nothing speakable left once cleaned
            text = decision.text if decision.allowed or decision.held else text
            entry = {"stage": "output", "action": decision.action, "rule": decision.rule, "text": text,
                     "ms": decision.ms, "hash": decision.digest}
            turn.moderation.append(entry)
            ctx.emit(ModerationDecided(turn_id=turn.turn_id, stage="output", action=decision.action,
                                       rule=decision.rule, text=text, detail=decision.detail,
                                       text_hash=decision.digest, ms=decision.ms))
            if decision.held:
                turn.flagged = True
                review = f"review: {decision.rule} ({decision.detail})"
            elif not decision.allowed:
                turn.flagged = True
                self.speech.add_blocked(index, text, decision.rule)
                if self._safe_line_used:
                    return
                self._safe_line_used = True
                text, index = ctx.persona.safe_line, index + 1
        origin = turn.origin or str(turn.source)
        held = ctx.hold.needed(origin, review)
        if entry is not None:  # what the safety gate (moderation + hold decision, not the hold's wait) added
            entry["gate_ms"] = round((time.perf_counter() - gate_started) * 1000, 3)
        self.speech.add(index, text, origin if held else None, review, cacheable=verbatim)

    async def _prepare_next(self) -> None:
        """Once every sentence is synthesized, let the conversation do the next turn's LLM work while this plays."""
        expected = await self.speech.audible_text()
        if self.turn.confirmed is not None:
            await asyncio.shield(self.turn.confirmed)
        if self.stale or self.turn.discarded:
            return
        self.turn.prepared = True
        await self.ctx.conversation.prepare_next(self.turn, expected)


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


def settle_verdict(verdict: asyncio.Future[float] | None, prob: float | None) -> None:
    """Give a pending message-end verdict its probability, or cancel it when there is none (None)."""
    if verdict is None or verdict.done():
        return
    if prob is None:
        verdict.cancel()
    else:
        verdict.set_result(prob)
