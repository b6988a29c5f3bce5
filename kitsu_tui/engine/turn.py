"""One turn's input, identity and measurements (the record `kitsu run --headless` prints)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kitsu_tui.engine.events import Source


def _free_floor() -> asyncio.Event:
    """A set event: nobody holds the floor."""
    floor = asyncio.Event()
    floor.set()
    return floor


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
    message_end: asyncio.Future[float] | None = None
    """For a speculative voice reply under the sentence rule: P(the transcript is a whole message), read off the
    reply's own prompt; cancelled when the LLM cannot tell (the listener then asks the sentence model)."""
    discarded: bool = False
    """A speculative reply whose speaker went on talking: it leaves no record and no history."""
    prepared: bool = False
    """The next turn's LLM work (memory summary, cache warm-up) already ran while this reply played."""
    warmed_for: str | None = None
    """The spoken text the LLM's cache was filled for during playback (no second warm-up when it was all heard)."""
    origin: str = ""
    """Where the input came from for the pre-air hold (voice, chat, twitch, operator, say, idle); "" = the source."""
    endpoint_rule: str = ""
    """For a voice turn: which endpointing rule ended the utterance (transcript cue, model verdict, silence)."""
    floor: asyncio.Event = field(default_factory=_free_floor)
    """Cleared while the person may be going on with the utterance this replies to: its audio waits (bounded)."""
    continues: int = 0
    """For a voice turn: the utterance it continued (that reply was taken back and the joined words answered)."""
    flagged: bool = False
    """Output moderation blocked or held a sentence, or the operator dumped one: the exchange stays out of history."""

    unanswered: bool = False
    """The LLM had nothing to say, twice: the fallback line was said instead (not an error of any part)."""

    @property
    def kept_out(self) -> bool:
        """The exchange stays out of history and memory (flagged, or the LLM failed or had nothing to say and a
        fallback line was said)."""
        return self.flagged or bool(self.error) or self.unanswered

    @property
    def fixed_text(self) -> bool:
        """The words are fixed, not generated (/say, idle and deflect lines): their speech may come from the TTS cache."""
        return self.source == Source.SAY

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
            "transcript_ready": span(self.arrived, m.get("transcript")),
            "llm_wait": span(self.arrived, m.get("llm_start")),
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
            "kept_out": self.kept_out,
            **({"unanswered": True} if self.unanswered else {}),
            "latency_ms": self.latency_ms(),
            **({"endpoint_rule": self.endpoint_rule, "continues": self.continues} if self.source == Source.VOICE else {}),
        }
