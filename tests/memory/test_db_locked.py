"""The memory DB locked by another process mid-show: turns do not wait, rows are queued and written in order later."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, ModuleState, Notice, Source
from kitsu_tui.memory import MemoryStore
from kitsu_tui.memory.module import MemoryModule
from kitsu_tui.soak.faulttargets import DbLockFault
from tests.engine.conftest import make_persona, make_settings

REPLIES = [f"Reply number {n} is about the purple umbrella." for n in range(6)]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold BEGIN EXCLUSIVE on the database from a second process while the block runs (the soak's db-lock fault)."""
    fault = DbLockFault(path)
    fault.begin()
    try:
        yield
    finally:
        fault.end()


@pytest.fixture
async def show(tmp_path: Path) -> AsyncIterator[tuple[Engine, MemoryStore, list[Event]]]:
    """A started engine on fakes with the memory module on a real file, and every event it emitted."""
    backends = Backends(vad=FakeVad(), asr=FakeAsr(), llm=FakeLlm(list(REPLIES)), tts=FakeTts(ms_per_char=5))
    engine = Engine(make_settings(), make_persona(), backends, NullOutput(16000))
    events: list[Event] = []
    engine.bus.add_listener(events.append)
    await engine.start()
    store = MemoryStore(tmp_path / "memory.sqlite3", summary_every=4)
    engine.register_module(MemoryModule(store))
    await engine.toggle_module("memory", True)
    yield engine, store, events
    await asyncio.wait_for(engine.stop(), 5)


async def run_turn(engine: Engine, number: int) -> float:
    """Submit chat message `number`, wait until its turn is over; returns how long that took."""
    started = time.monotonic()
    assert engine.submit_text(f"question {number} about umbrellas", Source.CHAT, f"viewer{number}")
    await asyncio.wait_for(engine.wait_idle(), 10)
    return time.monotonic() - started


def memory_notices(events: list[Event], level: str) -> list[str]:
    """Messages of the memory notices at `level`."""
    return [e.message for e in events if isinstance(e, Notice) and e.level == level and "memory" in e.message]


def memory_state(engine: Engine) -> ModuleState:
    """The memory module's state now."""
    return engine.module_states["memory"][0]


async def test_turns_go_on_while_the_db_is_locked_and_every_row_lands_in_order(
        show: tuple[Engine, MemoryStore, list[Event]]) -> None:
    """Locked for ~4 s: each turn is prompt, the module shows the lock once; after it every row is there, in order."""
    engine, store, events = show
    await run_turn(engine, 0)
    baseline = await store.count()
    assert baseline == 2
    with locked(store.path):
        lock_started = time.monotonic()
        took = [await run_turn(engine, n) for n in (1, 2, 3)]
        assert max(took) < 1.5, took
        assert store.pending_rows == 6 and await store.count() == baseline
        assert memory_state(engine) == ModuleState.ERROR
        assert "locked" in engine.module_states["memory"][1]
        recall_started = time.monotonic()
        await store.recall("purple umbrella")
        assert time.monotonic() - recall_started < 0.5, "recall never waits out the lock"
        await asyncio.sleep(max(0.0, 4.0 - (time.monotonic() - lock_started)))
    assert await run_turn(engine, 4) < 1.5
    deadline = time.monotonic() + 5
    while memory_state(engine) != ModuleState.ON and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert memory_state(engine) == ModuleState.ON and store.pending_rows == 0
    assert len(memory_notices(events, "warning")) == 1 and len(memory_notices(events, "info")) == 1
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT turn_id, role, text FROM turns ORDER BY id").fetchall()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM recall WHERE kind = 'turn'").fetchone() == (len(rows),)
    expected = []
    for n in range(5):
        expected += [("user", f"question {n} about umbrellas"), ("assistant", REPLIES[n])]
    assert [(role, text) for _, role, text in rows] == expected
    turn_ids = [turn_id for turn_id, _, _ in rows]
    assert turn_ids == sorted(turn_ids)


async def test_a_full_queue_drops_the_oldest_rows_and_counts_them(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue is bounded: past PENDING_MAX the oldest queued rows go, the rest are written once unlocked."""
    monkeypatch.setattr("kitsu_tui.memory.writequeue.PENDING_MAX", 3)
    store = MemoryStore(tmp_path / "memory.sqlite3")
    await store.open()
    try:
        with locked(store.path):
            for n in range(5):
                assert await store.add_turn(n, "user", f"line {n} while locked")
            assert store.pending_rows == 3 and store.dropped == 2
        await asyncio.wait_for(_drained(store), 5)
        assert await store.recent(10) == [("user", f"line {n} while locked") for n in (2, 3, 4)]
    finally:
        await store.close()


async def _drained(store: MemoryStore) -> None:
    while store.pending_rows or store.write_error is not None:  # noqa: ASYNC110 - the store retries on its own
        await asyncio.sleep(0.05)
