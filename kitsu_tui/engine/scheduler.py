"""The turn queue: waiting turns, the one running, interrupts by turn, and the bounded record of finished turns."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from kitsu_tui.engine.events import Event, Interrupted, OperatorAction, TurnCompleted, TurnRejected
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.turn import Turn
from kitsu_tui.engine.turns import TurnRunner

RECORDS_KEPT = 500
"""Finished turns kept in memory (the console's and tests' window); the show log and memory DB keep them all."""
CHAT_LOGINS_KEPT = 100
"""Recent chatters whose logins a reply must not read out unasked."""


class TurnQueue:
    """Runs turns one at a time in arrival order; an interrupt cancels the running one by its own stop flag."""

    def __init__(self, emit: Callable[[Event], None], player: Player, max_pending: int) -> None:
        self._emit = emit
        self._player = player
        self._max_pending = max_pending
        self.pending: asyncio.Queue[Turn] = asyncio.Queue()
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

    def finish(self, record: dict[str, Any]) -> None:
        """Keep a finished turn's record (a bounded window) and announce it."""
        self.records.append(record)
        if len(self.records) > 2 * RECORDS_KEPT:
            del self.records[:-RECORDS_KEPT]
        if record.get("source") == "chat" and record.get("author"):
            self._logins.append(str(record["author"]))
        self._emit(TurnCompleted(turn_id=int(record["turn"]), record=record))

    def clear(self) -> int:
        """Drop every waiting turn; returns how many."""
        dropped = 0
        while not self.pending.empty():
            self.pending.get_nowait()
            dropped += 1
        return dropped

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
            turn = await self.pending.get()
            runner = None
            if not turn.discarded:
                self._idle.clear()
                runner = await prepare(turn)
            if runner is None:
                if self.pending.empty():
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
                if self.pending.empty():
                    self._idle.set()
                settle()
