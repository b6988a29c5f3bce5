"""The turn queue: waiting turns, the one running, interrupts by turn, and the bounded record of finished turns."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from kitsu_tui.engine.events import (
    Event,
    Interrupted,
    ModuleStateChanged,
    OperatorAction,
    Source,
    TurnCompleted,
    TurnRejected,
)
from kitsu_tui.engine.llmhealth import LlmHealth
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.turn import Turn
from kitsu_tui.engine.turns import TurnRunner

RECORDS_KEPT = 500
"""Finished turns kept in memory (the console's and tests' window); the show log and memory DB keep them all."""
CHAT_LOGINS_KEPT = 100
"""Recent chatters whose logins a reply must not read out unasked."""


class TurnQueue:
    """Runs turns one at a time in arrival order; an interrupt cancels the running one by its own stop flag.

    While the LLM is failing, turns that need it wait aside (bounded) and /say lines go on; they run first once it is back.
    """

    def __init__(self, emit: Callable[[Event], None], player: Player, max_pending: int, health: LlmHealth) -> None:
        self._emit = emit
        self._player = player
        self._max_pending = max_pending
        self._health = health
        self.pending: asyncio.Queue[Turn] = asyncio.Queue()
        self.waiting: deque[Turn] = deque()
        """Turns that need the LLM, set aside while it is failing, oldest first."""
        self._wake = asyncio.Event()
        self.current: TurnRunner | None = None
        self.completing = False
        """True while a finished turn is being stored (memory, recording) before TurnCompleted."""
        self.records: list[dict[str, Any]] = []
        """The last RECORDS_KEPT finished (or refused) turns' records, oldest first."""
        self._logins: deque[str] = deque(maxlen=CHAT_LOGINS_KEPT)
        self._ids = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def next_id(self) -> int:
        """A fresh turn id."""
        self._ids += 1
        return self._ids

    @property
    def busy(self) -> bool:
        """A turn is running, being stored, or waiting."""
        return self.current is not None or self.completing or not self.pending.empty()

    def llm_in_use(self) -> bool:
        """A turn is generating or waiting for the LLM (safe to call from the LLM's thread: plain reads)."""
        current = self.current
        return not self.pending.empty() or (current is not None and current.generating)

    @property
    def chat_logins(self) -> frozenset[str]:
        """Logins of recent chatters."""
        return frozenset(self._logins)

    def enqueue(self, turn: Turn) -> None:
        """Queue a turn; past the limit the oldest waiting one is dropped (and announced)."""
        while self.pending.qsize() >= self._max_pending:
            dropped = self.pending.get_nowait()
            self._emit(TurnRejected(turn_id=dropped.turn_id, source=dropped.source, text=dropped.text,
                                    reason="queue full", author=dropped.author))
        self._idle.clear()
        self.pending.put_nowait(turn)
        self._wake.set()

    def finish(self, record: dict[str, Any]) -> None:
        """Keep a finished turn's record (a bounded window) and announce it."""
        self.records.append(record)
        if len(self.records) > 2 * RECORDS_KEPT:
            del self.records[:-RECORDS_KEPT]
        if record.get("source") == "chat" and record.get("author"):
            self._logins.append(str(record["author"]))
        self._emit(TurnCompleted(turn_id=int(record["turn"]), record=record))

    def clear(self) -> int:
        """Drop every waiting turn (those waiting for the LLM too); returns how many."""
        dropped = len(self.waiting)
        self.waiting.clear()
        self._health.set_waiting(0)
        while not self.pending.empty():
            self.pending.get_nowait()
            dropped += 1
        return dropped

    def refuse_waiting(self, reason: str) -> int:
        """Refuse every turn waiting for the LLM, each announced with its record kept (the show is ending); how many."""
        refused = 0
        while self.waiting:
            self._reject(self.waiting.popleft(), reason)
            refused += 1
        self._health.set_waiting(0)
        return refused

    def observe(self, event: Event) -> None:
        """Bus listener: a change of the llm module's state may release (or refuse) the turns waiting for it."""
        if isinstance(event, ModuleStateChanged) and event.module == "llm":
            if self.waiting and not self._health.down:
                self._idle.clear()  # they run now: wait_idle waits for them
            self._wake.set()

    def _runnable(self) -> bool:
        """A turn can be taken now (a pending one, or one that waited for the LLM once it is back)."""
        return not self.pending.empty() or (bool(self.waiting) and not self._health.down)

    async def _next(self) -> Turn:
        """The next turn: those that waited for the LLM first once it is back; while it fails, LLM turns wait."""
        while True:
            self._wake.clear()
            if self.waiting and not self._health.down:
                turn = self.waiting.popleft()
                self._health.set_waiting(len(self.waiting))
                if not (reason := self._health.refusal()):
                    return turn
                self._reject(turn, reason)  # the operator switched the llm off meanwhile
                continue
            if not self.pending.empty():
                turn = self.pending.get_nowait()
                if turn.discarded or turn.source == Source.SAY or not self._health.down:
                    return turn
                self._set_aside(turn)
                continue
            self._idle.set()  # nothing can run: turns waiting for the LLM do not keep the show busy
            await self._wake.wait()

    def _set_aside(self, turn: Turn) -> None:
        """Keep an LLM turn until the LLM is back; past the queue's limit the oldest chat turn waiting is refused."""
        self.waiting.append(turn)
        while len(self.waiting) > self._max_pending:
            oldest = next((t for t in self.waiting if t.source == Source.CHAT), self.waiting[0])
            self.waiting.remove(oldest)
            self._reject(oldest, "too many turns waiting for the llm")
        self._health.set_waiting(len(self.waiting))

    def _reject(self, turn: Turn, reason: str) -> None:
        """Refuse a turn that waited: announced, and its record kept with the reason."""
        self._emit(TurnRejected(turn_id=turn.turn_id, source=turn.source, text=turn.text, reason=reason,
                                author=turn.author))
        record = turn.record()
        record["rejected"] = reason
        self.finish(record)

    def interrupt(self, reason: str) -> bool:
        """Stop the current turn now: LLM stop flag, TTS dropped, playback cut; True if one ran."""
        runner = self.current
        if runner is None:
            self._player.cut()
            return False
        runner.cancel()
        self._player.cut(runner.turn.turn_id)
        self._emit(Interrupted(turn_id=runner.turn.turn_id, reason=reason))
        return True

    def skip(self) -> bool:
        """Drop the sentence playing now; the rest of the reply goes on."""
        segment = self._player.skip_current()
        if segment is None:
            return False
        if self.current is not None and self.current.turn.turn_id == segment.turn_id:
            self.current.turn.interrupted = True
        self._emit(OperatorAction(action="skip", detail=segment.text, turn_id=segment.turn_id))
        return True

    async def wait_idle(self) -> None:
        """Return once no turn is running or waiting."""
        while True:
            await self._idle.wait()
            await asyncio.sleep(0)
            if self._idle.is_set() and self.pending.empty():
                return

    async def run(self, prepare: Callable[[Turn], Awaitable[TurnRunner | None]],
                  started: Callable[[TurnRunner], None], complete: Callable[[Turn], Awaitable[None]],
                  settle: Callable[[], None]) -> None:
        """Take turns forever: `prepare` makes a runner (None: drop the turn), `started` announces it once it
        is current, `complete` stores it when it ends, and `settle` announces the resting state."""
        while True:
            turn = await self._next()
            runner = None
            if not turn.discarded:
                self._idle.clear()
                runner = await prepare(turn)
            if runner is None:
                if not self._runnable():
                    self._idle.set()
                continue
            self.current = runner
            started(runner)
            try:
                await runner.run()
            finally:
                self.current = None  # memory summaries may use the LLM now
                self.completing = True
                try:
                    await complete(turn)
                finally:
                    self.completing = False
                if not self._runnable():
                    self._idle.set()
                settle()
