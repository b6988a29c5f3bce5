"""Admission: every input becomes a turn here, moderated once, with barge-in and speculative replies."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kitsu_tui.engine.endpoint import VERDICT_CUES, transcript_cue
from kitsu_tui.engine.events import Event, ModerationDecided, PlaybackStarted, Source, TurnRejected
from kitsu_tui.engine.listener import Utterance
from kitsu_tui.engine.llmhealth import llm_failing
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.state import ShowState
from kitsu_tui.engine.turn import Turn

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import Moderator
    from kitsu_tui.safety.moderator import Decision

log = logging.getLogger(__name__)

NO_DEFLECT_RULES = frozenset({"length", "empty", "duplicate", "rate", "spam", "script"})
"""Input blocks that are not about content: no deflection line for them."""
DEFLECT_EVERY_S = 30.0
"""At most one deflection line this often."""
VOICE_TURNS_KEPT = 8
"""Recent voice turns a continuation may take back."""
ECHO_OVERLAP = 0.6
"""Speech sharing this much of its words with the reply being spoken is kitsu's own voice in the mic."""


class Admission:
    """Turns chat, voice and operator lines into queued turns, or refuses them with the reason emitted."""

    def __init__(self, settings: Settings, show: ShowState, queue: TurnQueue, moderator: Moderator | None,
                 persona: Callable[[], Persona], emit: Callable[[Event], None]) -> None:
        self._settings = settings
        self._show = show
        self._queue = queue
        self.moderator = moderator
        self._persona = persona
        self._emit = emit
        self._tentative: Turn | None = None
        self._last_deflect = -DEFLECT_EVERY_S
        self._voice_turns: collections.OrderedDict[int, Turn] = collections.OrderedDict()
        """The last VOICE_TURNS_KEPT voice turns by utterance id (a continuation takes its reply back)."""
        self._continued: collections.deque[int] = collections.deque(maxlen=VOICE_TURNS_KEPT)
        """Utterances a continuation took over: their own final transcript, if it comes late, is dropped."""
        self._audible: collections.OrderedDict[int, float] = collections.OrderedDict()
        """When each recent turn's first sentence started playing (monotonic), by turn id."""

    # --- text -------------------------------------------------------------------------------

    def moderate_input(self, text: str, source: Source, author: str = "") -> Decision | None:
        """Moderate a line before it becomes a turn (None when moderation is off); a block is emitted here.

        Pass an allowed decision on to submit(decision=...) so the line is never checked twice
        (a second check would count it twice against the rate limit and block it as a duplicate).
        """
        if self.moderator is None:
            return None
        decision = self._check(text, source, author)
        if not decision.allowed:
            self._deflect(source, decision.rule)
            self._emit(ModerationDecided(stage="input", action=decision.action, rule=decision.rule,
                                         text=decision.text, detail=decision.detail, author=author,
                                         text_hash=decision.digest, ms=decision.ms))
        return decision

    def submit(self, text: str, source: Source = Source.CHAT, author: str = "", decision: Decision | None = None,
               origin: str = "") -> bool:
        """Queue a text turn (chat, operator or /say); False when refused (the reason is emitted).

        `decision` is an allowed one from moderate_input for this text: it is reused, not checked again.
        `origin` names the input for the pre-air hold's per-source delay ("twitch"; default: the source).
        """
        text = text.strip()
        if not text:
            return False
        turn = Turn(self._queue.next_id(), source, text, author=author, arrived=time.monotonic(),
                    origin=origin or ("idle" if author == "idle" else str(source)))
        if not self.admit(turn, decision):
            return False
        self._queue.enqueue(turn)
        return True

    def admit(self, turn: Turn, decision: Decision | None = None) -> bool:
        """Apply input moderation (or reuse `decision`) and module/panic rules; emits TurnRejected when refused.

        While the llm module is failing (not switched off) LLM turns are admitted: they wait for it in the queue.
        """
        reason = ""
        if self._show.panicked:
            reason = "panic is engaged"
        elif turn.source != Source.SAY and not self._show.module_on("llm") and not llm_failing(self._show):
            reason = self._show.module_reason("llm")
        elif turn.source != Source.SAY and (self.moderator is not None or decision is not None):
            if decision is None:
                decision = self._check(turn.text, turn.source, turn.author)
                turn.text = decision.text  # control characters and escapes never travel further
            turn.moderation.append({"stage": "input", "action": decision.action, "rule": decision.rule,
                                    "text": turn.text, "ms": decision.ms, "hash": decision.digest})
            self._emit(ModerationDecided(turn_id=turn.turn_id, stage="input", action=decision.action,
                                         rule=decision.rule, text=turn.text, detail=decision.detail,
                                         author=turn.author, text_hash=decision.digest, ms=decision.ms))
            if not decision.allowed:
                reason = f"blocked by moderation ({decision.rule})"
                self._deflect(turn.source, decision.rule)
            elif not decision.remember:
                turn.flagged = True  # a role-play framing: answered once, never kept in history or memory
        if not reason:
            return True
        self._emit(TurnRejected(turn_id=turn.turn_id, source=turn.source, text=turn.text, reason=reason,
                                author=turn.author))
        record = turn.record()
        record["rejected"] = reason
        self._queue.finish(record)
        return False

    def _check(self, text: str, source: Source, author: str) -> Decision:
        assert self.moderator is not None
        return self.moderator.check_input(text, str(source), author, family_friendly=self._show.family_friendly,
                                          language=self._persona().language)

    def _deflect(self, source: Source, rule: str) -> None:
        """Speak the persona's deflect line (never the blocked text) for a chat line blocked for its content."""
        line = self._persona().deflect_line
        if (source != Source.CHAT or rule in NO_DEFLECT_RULES or not self._settings.moderation.deflect_blocked_chat
                or not line or self._show.panicked):
            return
        now = time.monotonic()
        if now - self._last_deflect < DEFLECT_EVERY_S or self._queue.busy:
            return  # one deflection at a time, and never a queue of them during a raid
        self._last_deflect = now
        self.submit(line, Source.SAY, "deflect")

    # --- voice ------------------------------------------------------------------------------

    def on_tentative(self, utt: Utterance) -> asyncio.Future[float] | None:
        """An early transcript during the endpointing silence: start the reply now, hold its audio.

        Under the sentence rule the reply's prefill also reads P(the transcript is a whole message): the future
        returned here gets it (or is cancelled when the LLM cannot tell); None when no reply was started.
        """
        show = self._show
        if (not self._settings.engine.speculative_reply or self._tentative is not None or self._queue.busy
                or show.panicked or show.paused or not show.module_on("llm")):
            return None
        loop = asyncio.get_running_loop()
        asked = self._settings.vad.endpointing == "sentence" and transcript_cue(utt.text) in VERDICT_CUES
        verdict = loop.create_future() if asked else None  # a trailing-off transcript already waits the longest
        turn = Turn(self._queue.next_id(), Source.VOICE, utt.text, arrived=utt.speech_end,
                    speech_start=utt.speech_start, utterance_id=utt.utterance_id,
                    confirmed=loop.create_future(), message_end=verdict)
        turn.mark("transcript")
        self._tentative = turn
        self._remember_voice(turn)
        self._queue.enqueue(turn)
        return verdict

    def on_tentative_cancelled(self, utterance_id: int) -> None:
        """The person went on talking: the speculative reply is dropped unheard."""
        turn = self._tentative
        if turn is not None and turn.utterance_id == utterance_id:
            self._tentative = None
            self._discard(turn, "speech went on")

    def _discard(self, turn: Turn, reason: str) -> None:
        """Drop a speculative reply: it is never heard and leaves no record."""
        turn.discarded = True
        if turn.confirmed is not None and not turn.confirmed.done():
            turn.confirmed.set_result(False)
        current = self._queue.current
        if current is not None and current.turn is turn:
            self._queue.interrupt(reason)

    async def on_utterance(self, utt: Utterance) -> None:
        """A finished transcript: confirm the speculative reply for it, or admit a new voice turn."""
        if utt.utterance_id in self._continued:
            return  # a later utterance went on from this one and answers for both
        tentative = self._tentative
        if tentative is not None and tentative.utterance_id == utt.utterance_id:
            self._tentative = None
            if utt.text and utt.text == tentative.text:
                tentative.endpointed_at, tentative.asr_ms = utt.endpointed_at, round(utt.asr_ms, 1)
                tentative.endpoint_rule, tentative.continues = utt.endpoint_rule, utt.continues
                if self.admit(tentative):
                    assert tentative.confirmed is not None
                    tentative.confirmed.set_result(True)
                else:
                    self._discard(tentative, "refused")
                return
            self._discard(tentative, "transcript changed")
        if not utt.text:
            return
        if not utt.continues and self._queue.current is not None and not self.barge_in_allowed(utt.text):
            log.info("ignored speech while speaking: %r", utt.text)
            return
        turn = Turn(self._queue.next_id(), Source.VOICE, utt.text, arrived=utt.speech_end,
                    speech_start=utt.speech_start, endpointed_at=utt.endpointed_at, asr_ms=round(utt.asr_ms, 1),
                    utterance_id=utt.utterance_id, endpoint_rule=utt.endpoint_rule, continues=utt.continues)
        if not self.admit(turn):
            return
        self._remember_voice(turn)
        if self._queue.current is not None:
            self._queue.interrupt("barge-in")
        self._queue.enqueue(turn)

    def _remember_voice(self, turn: Turn) -> None:
        self._voice_turns[turn.utterance_id] = turn
        while len(self._voice_turns) > VOICE_TURNS_KEPT:
            self._voice_turns.popitem(last=False)

    def observe(self, event: Event) -> None:
        """Bus listener: when each turn's reply first became audible (a continuation asks how much was heard)."""
        if isinstance(event, PlaybackStarted) and event.turn_id not in self._audible:
            self._audible[event.turn_id] = event.ts
            while len(self._audible) > VOICE_TURNS_KEPT:
                self._audible.popitem(last=False)

    def hold_floor(self, utterance_id: int, held: bool) -> None:
        """Speech began soon after utterance `utterance_id`: its reply, if not audible yet, waits until that is decided."""
        turn = self._voice_turns.get(utterance_id)
        if turn is None:
            return
        if not held:
            turn.floor.set()
        elif turn.turn_id not in self._audible and "end" not in turn.marks:
            turn.floor.clear()

    def on_continuation(self, utterance_id: int) -> bool:
        """The person goes on talking soon after utterance `utterance_id` ended: take its reply back, if little was heard.

        A reply not heard at all is dropped without a trace (no record, nothing remembered); one heard for less
        than join_max_heard_ms is interrupted (only what was heard is kept). Returns whether the new speech
        joins that utterance; a reply heard longer, already finished, or refused stands, and the speech is a
        turn of its own.
        """
        turn = self._voice_turns.get(utterance_id)
        if turn is None or turn.discarded or "end" in turn.marks:
            return False
        started = self._audible.get(turn.turn_id)
        heard_ms = 0.0 if started is None else (time.monotonic() - started) * 1000
        if heard_ms > self._settings.engine.join_max_heard_ms:
            return False
        self._continued.append(utterance_id)
        if self._tentative is turn:
            self._tentative = None
        if started is None:
            self._discard(turn, "continued")
        else:
            current = self._queue.current
            if current is not None and current.turn is turn:
                self._queue.interrupt("continued")
        log.info("utterance %d continues after %.0f ms of its reply heard: joined", utterance_id, heard_ms)
        return True

    def barge_in_allowed(self, text: str) -> bool:
        """Whether speech heard while kitsu talks may interrupt it (settings [engine] barge_in)."""
        engine = self._settings.engine
        if engine.barge_in == "interrupt":
            return True
        if engine.barge_in == "ignore":
            return False
        words = [w for w in text.lower().split() if any(c.isalnum() for c in w)]
        if len(words) < engine.barge_in_min_words:
            return False
        current = self._queue.current
        if engine.echo_guard and current is not None:
            said = {w.strip(".,!?;:\"'").lower() for w in current.turn.reply.split()}
            overlap = sum(1 for w in words if w.strip(".,!?;:\"'") in said) / len(words)
            if overlap >= ECHO_OVERLAP:
                return False  # the mic is hearing kitsu's own voice
        return True
