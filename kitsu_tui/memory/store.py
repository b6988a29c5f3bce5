"""Conversation memory in SQLite (aiosqlite, WAL): turns, summaries, FTS5 recall and restore on start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from kitsu_tui.memory.summary import STOPWORDS, StoredTurn, clean_summary, extractive_summary, transcript
from kitsu_tui.memory.writequeue import WRITE_BUSY_MS, HealthHook, WriteQueue

log = logging.getLogger("kitsu.memory")

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS summaries (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    method TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS recall USING fts5(
    text, kind UNINDEXED, ref UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

_QUERY_WORD_RE = re.compile(r"\w+", re.UNICODE)
_MAX_QUERY_WORDS = 12
_MAX_SUMMARY_TURNS = 60
_RESTORE_LIMIT = 5
OPEN_BUSY_MS = 5000
"""How long opening the file waits for another process's lock (once, at start)."""

Summarizer = Callable[[str], Awaitable[str]]


def is_meaningful(text: str) -> bool:
    """True when `text` has at least one letter or digit (no empty, "..." or emoji-only turns)."""
    return any(char.isalnum() for char in text)


def _move_aside(path: Path, aside: Path) -> None:
    """Rename a database and its -wal/-shm files to `aside` (keeping them for inspection)."""
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{aside}{suffix}"))


class MemoryStore:
    """Persistent conversation memory; every write commits at once so a kill -9 loses at most one turn."""

    def __init__(
        self,
        path: Path,
        summary_every: int = 6,
        restore_window_s: float | None = 7200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.summary_every = max(2, summary_every)
        self.restore_window_s = restore_window_s
        self.clock = clock
        """Wall-clock source for timestamps (injectable for tests)."""
        self.recovered_from: Path | None = None
        """Where an unreadable database was moved aside when open() had to start afresh."""
        self._db: aiosqlite.Connection | None = None
        self._summary_lock = asyncio.Lock()
        self._queue = WriteQueue(lambda: self._db)

    @property
    def pending_rows(self) -> int:
        """Rows accepted but not written yet (the database was locked)."""
        return self._queue.pending_rows

    @property
    def write_error(self) -> str | None:
        """Why queued rows are not written yet (None while writes succeed)."""
        return self._queue.write_error

    @property
    def dropped(self) -> int:
        """Rows dropped because the queue was full while the database stayed unwritable."""
        return self._queue.dropped

    @property
    def on_health(self) -> HealthHook | None:
        """Told when writes start failing and when the backlog is written (the memory module reports it)."""
        return self._queue.on_health

    @on_health.setter
    def on_health(self, hook: HealthHook | None) -> None:
        self._queue.on_health = hook

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection (raises when open() was not awaited)."""
        if self._db is None:
            raise RuntimeError(f"memory store {self.path} is not open")
        return self._db

    async def _connect(self) -> None:
        """Connect, switch to WAL with full sync, create the schema and check the file is sound."""
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=FULL")
        await self._db.execute(f"PRAGMA busy_timeout={OPEN_BUSY_MS}")
        await self._db.executescript(SCHEMA)
        await self._db.commit()
        async with self._db.execute("PRAGMA quick_check") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check failed: {row[0] if row else 'no result'}")
        await self._db.execute(f"PRAGMA busy_timeout={WRITE_BUSY_MS}")

    async def open(self) -> None:
        """Open (creating) the database; an unreadable file is moved aside and a fresh one started."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._connect()
        except sqlite3.DatabaseError as exc:
            await self.close()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self.clock())}")
            await asyncio.to_thread(_move_aside, self.path, aside)
            self.recovered_from = aside
            log.warning("memory database %s unreadable (%s); moved to %s, starting fresh", self.path, exc, aside)
            await self._connect()

    async def close(self) -> None:
        """Try once more to write queued rows, checkpoint the WAL and close the connection."""
        if self._db is None:
            return
        await self._queue.close()
        db, self._db = self._db, None
        try:
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.debug("wal checkpoint skipped: %s", exc)
        await db.close()

    async def add_turn(self, turn_id: int, role: str, text: str, source: str = "", author: str = "") -> bool:
        """Store one message (committed before returning, or queued for the retry while the file is locked); refuses
        empty or punctuation-only text."""
        text = " ".join(text.split())
        if not is_meaningful(text):
            return False
        if self._db is None:
            raise RuntimeError(f"memory store {self.path} is not open")
        await self._queue.add(turn_id, self.clock(), role, text, str(source), author)
        return True

    async def count(self) -> int:
        """Number of stored turns."""
        async with self.db.execute("SELECT COUNT(*) FROM turns") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def recent(self, limit: int) -> list[tuple[str, str]]:
        """The last `limit` turns as (role, text), oldest first."""
        if limit <= 0:
            return []
        async with self.db.execute("SELECT role, text FROM turns ORDER BY id DESC LIMIT ?", (limit,)) as cursor:
            rows = await cursor.fetchall()
        return [(str(role), str(text)) for role, text in reversed(list(rows))]

    async def recall(self, query: str, limit: int = 3, exclude_recent: int = 0) -> list[str]:
        """Past turns and summaries most relevant to `query` (FTS5, bm25), skipping the newest `exclude_recent` turns
        (nothing, rather than a wait, while the file is locked)."""
        try:
            return await self._recall(query, limit, exclude_recent)
        except sqlite3.OperationalError as exc:
            log.info("memory recall skipped: %s", exc)
            return []

    async def _recall(self, query: str, limit: int, exclude_recent: int) -> list[str]:
        """recall() without the guard for a locked file."""
        words = [w for w in dict.fromkeys(_QUERY_WORD_RE.findall(query.lower())) if len(w) >= 3 and w not in STOPWORDS]
        if not words or limit <= 0:
            return []
        match = " OR ".join(f'"{word}"' for word in words[:_MAX_QUERY_WORDS])
        newest_excluded = await self._row_before_recent(exclude_recent - self.pending_rows)  # queued: the newest
        sql = (
            "SELECT recall.kind, recall.ref, recall.text, t.role, t.author FROM recall "
            "LEFT JOIN turns AS t ON recall.kind = 'turn' AND t.id = recall.ref "
            "WHERE recall MATCH ? AND (recall.kind != 'turn' OR recall.ref <= ?) ORDER BY bm25(recall) LIMIT ?"
        )
        async with self.db.execute(sql, (match, newest_excluded, limit * 3)) as cursor:
            rows = await cursor.fetchall()
        found: list[str] = []
        for kind, ref, text, role, author in rows:
            if kind == "turn":
                text = f"{StoredTurn(int(ref), 0.0, str(role), str(text), str(author or '')).speaker}: {text}"
            if text not in found:
                found.append(str(text))
        return found[:limit]

    async def _row_before_recent(self, exclude_recent: int) -> int:
        """The highest turn row older than the newest `exclude_recent` turns."""
        if exclude_recent <= 0:
            return 2**62
        sql = "SELECT id FROM turns ORDER BY id DESC LIMIT 1 OFFSET ?"
        async with self.db.execute(sql, (exclude_recent,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def restored_context(self) -> list[str]:
        """Summaries written within the restore window, oldest first ([] when restoring is off)."""
        if not self.restore_window_s or self.restore_window_s <= 0:
            return []
        since = self.clock() - self.restore_window_s
        sql = "SELECT text FROM summaries WHERE ts >= ? ORDER BY id DESC LIMIT ?"
        try:
            async with self.db.execute(sql, (since, _RESTORE_LIMIT)) as cursor:
                rows = await cursor.fetchall()
        except sqlite3.OperationalError as exc:  # locked by another process: recall nothing rather than wait
            log.info("memory restore skipped: %s", exc)
            return []
        return [str(text) for (text,) in reversed(list(rows))]

    async def current_summary(self) -> str:
        """The newest summary written ("" when none was written yet)."""
        async with self.db.execute("SELECT text FROM summaries ORDER BY id DESC LIMIT 1") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else ""

    async def _unsummarized(self) -> list[StoredTurn]:
        """Turns written after the last summary (at most the newest _MAX_SUMMARY_TURNS)."""
        sql = (
            "SELECT id, ts, role, text, author FROM turns WHERE id > "
            "(SELECT COALESCE(MAX(last_row), 0) FROM summaries) ORDER BY id DESC LIMIT ?"
        )
        async with self.db.execute(sql, (_MAX_SUMMARY_TURNS,)) as cursor:
            rows = await cursor.fetchall()
        return [StoredTurn(int(r[0]), float(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in reversed(list(rows))]

    async def maybe_summarize(self, summarize: Summarizer | None) -> str | None:
        """Every `summary_every` stored messages write a summary (LLM, else extractive); returns it or None (also while
        rows are queued behind a locked file)."""
        if self.pending_rows or self.write_error is not None:
            return None
        async with self._summary_lock:
            turns = await self._unsummarized()
            if len(turns) < self.summary_every:
                return None
            text, method = None, "extractive"
            if summarize is not None:
                try:
                    text = clean_summary(await summarize(transcript(turns)), turns)
                    method = "llm"
                except Exception as exc:  # the LLM may fail in any way; the fallback must still run
                    log.warning("LLM summary failed (%s); using the extractive summary", exc)
            if text is None:
                text, method = extractive_summary(turns), "extractive"
            if not await self._queue.guarded(lambda: self._write_summary(turns, method, text)):
                return None
            log.info("memory summary written (%s, %d turns)", method, len(turns))
            return text

    async def _write_summary(self, turns: list[StoredTurn], method: str, text: str) -> bool:
        """Insert a summary, then any rows queued meanwhile (under the write lock); False when the file is locked."""
        try:
            cursor = await self.db.execute(
                "INSERT INTO summaries (ts, first_ts, last_ts, first_row, last_row, method, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.clock(), turns[0].ts, turns[-1].ts, turns[0].row, turns[-1].row, method, text),
            )
            await self.db.execute(
                "INSERT INTO recall (text, kind, ref) VALUES (?, 'summary', ?)", (text, cursor.lastrowid)
            )
            await self.db.commit()
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                await self.db.rollback()
            log.info("memory summary not written (%s); it is redone after the next turns", exc)
            return False
        await self._queue.flush()  # rows queued while this write held the lock
        return True
