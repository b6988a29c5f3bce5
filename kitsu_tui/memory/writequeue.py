"""A bounded queue of memory rows, written in order and retried with backoff while another process locks the file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiosqlite

log = logging.getLogger("kitsu.memory")

WRITE_BUSY_MS = 300
"""How long a statement waits for another process's lock during the show before the write is queued."""
PENDING_MAX = 5000
"""Rows kept waiting for a locked database; past this the oldest are dropped (and counted)."""
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 2.0
"""Queued rows are retried after 0.25 s, doubling up to 2 s between tries."""

_T = TypeVar("_T")
HealthHook = Callable[[str | None], None]
"""Told why writes are failing (once, when they start to) and None once every queued row is written."""
Connection = Callable[[], aiosqlite.Connection | None]
"""Returns the store's open connection (None while it is closed)."""


@dataclass(frozen=True, slots=True)
class _Row:
    """One message waiting to be written, with the time it was said and its place in the queue."""

    seq: int
    turn_id: int
    ts: float
    role: str
    text: str
    source: str
    author: str


class WriteQueue:
    """Owns the write lock and the rows not written yet, and retries them in order until the database takes them."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._write_lock = asyncio.Lock()
        self._pending: deque[_Row] = deque()
        self._seq = 0
        self._retry: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[object]] = set()
        self._closing = False
        self.write_error: str | None = None
        """Why queued rows are not written yet (None while writes succeed)."""
        self.dropped = 0
        """Rows dropped because the queue was full while the database stayed unwritable."""
        self.on_health: HealthHook | None = None
        """Told when writes start failing and when the backlog is written (the memory module reports it)."""

    @property
    def pending_rows(self) -> int:
        """Rows accepted but not written yet (the database was locked)."""
        return len(self._pending)

    async def add(self, turn_id: int, ts: float, role: str, text: str, source: str, author: str) -> None:
        """Queue one row (dropping the oldest when full) and write it now unless a retry is already due."""
        self._seq += 1
        if len(self._pending) >= PENDING_MAX:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("memory: write queue full; dropping the oldest rows (%d so far)", self.dropped)
        self._pending.append(_Row(self._seq, turn_id, ts, role, text, source, author))
        if self._retry is None:  # otherwise the retry writes it, after the rows queued before it
            await self.guarded(self.flush)

    async def close(self) -> None:
        """Stop the retry and try once more to write queued rows (the caller drops the connection right after)."""
        self._closing = True
        retry, self._retry = self._retry, None
        if retry is not None:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
        await self.guarded(self.flush)  # after any write still running
        if self._pending:
            log.warning("memory: %d rows not written before closing (%s)", len(self._pending), self.write_error)
        self._closing = False  # no await follows: the caller drops the connection before any retry could start

    async def guarded(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run `work` under the write lock in its own task: a cancelled caller never leaves a transaction half done."""
        async def locked() -> _T:
            async with self._write_lock:
                return await work()

        task = asyncio.get_running_loop().create_task(locked(), name="kitsu-memory-write")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def flush(self) -> bool:
        """Write every queued row in order (the caller holds the write lock); False when the database refused."""
        while self._pending and (db := self._connection()) is not None:
            batch = list(self._pending)
            try:
                for row in batch:
                    cursor = await db.execute(
                        "INSERT INTO turns (turn_id, ts, role, text, source, author) VALUES (?, ?, ?, ?, ?, ?)",
                        (row.turn_id, row.ts, row.role, row.text, row.source, row.author),
                    )
                    await db.execute(
                        "INSERT INTO recall (text, kind, ref) VALUES (?, 'turn', ?)", (row.text, cursor.lastrowid)
                    )
                await db.commit()
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await db.rollback()
                self._write_failed(exc)
                return False
            while self._pending and self._pending[0].seq <= batch[-1].seq:
                self._pending.popleft()
        if self.write_error is not None and not self._pending:
            log.info("memory: the database is writable again; every queued row is written")
            self.write_error = None
            self._tell(None)
        return not self._pending

    def _write_failed(self, exc: sqlite3.Error) -> None:
        """Keep the rows, report the first failure, and make sure a retry is coming."""
        if self.write_error is None:
            locked = "locked" in str(exc) or "busy" in str(exc)
            self.write_error = (f"database locked by another process ({exc})" if locked
                                else f"database not writable ({exc})") + "; rows are queued and retried"
            log.warning("memory: %s", self.write_error)
            self._tell(self.write_error)
        if self._retry is None and not self._closing:
            self._retry = asyncio.get_running_loop().create_task(self._retry_writes(), name="kitsu-memory-retry")

    async def _retry_writes(self) -> None:
        """Retry the queued rows with backoff until they are all written (or the store closes)."""
        delay = RETRY_FIRST_S
        try:
            while self._pending and self._connection() is not None:
                await asyncio.sleep(delay)
                if await self.guarded(self.flush):
                    return
                delay = min(delay * 2, RETRY_MAX_S)
        finally:
            if self._retry is asyncio.current_task():
                self._retry = None

    def _tell(self, problem: str | None) -> None:
        """Pass a health change to the hook; a failing hook never breaks a write."""
        if self.on_health is None:
            return
        try:
            self.on_health(problem)
        except Exception:
            log.exception("memory health hook failed")
