"""MemoryStore on a real SQLite file: turns, summary cadence, restore window, FTS recall, kill -9 durability."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kitsu_tui.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        """The current fake time."""
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MemoryStore]:
    """An open store on a temporary file, summarizing every 4 messages."""
    memory = MemoryStore(tmp_path / "memory.sqlite3", summary_every=4, clock=clock)
    await memory.open()
    yield memory
    await memory.close()


async def test_wal_mode_and_refused_turns(store: MemoryStore) -> None:
    """The file is in WAL mode; empty, whitespace and punctuation-only turns are not stored."""
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)
    for junk in ["", "   ", "...", "?!", " - ", "…"]:
        assert await store.add_turn(1, "assistant", junk) is False
    assert await store.add_turn(1, "user", "  hello   there  ", "chat", "alice") is True
    assert await store.count() == 1
    assert await store.recent(5) == [("user", "hello there")]


async def test_recent_is_oldest_first(store: MemoryStore) -> None:
    """recent(n) returns the last n turns in speaking order."""
    for i in range(5):
        await store.add_turn(i, "user" if i % 2 == 0 else "assistant", f"line {i}")
    assert await store.recent(3) == [("user", "line 2"), ("assistant", "line 3"), ("user", "line 4")]
    assert await store.recent(0) == []


async def test_summary_cadence_and_llm_fallback(store: MemoryStore) -> None:
    """A summary is written every summary_every messages; junk or failing LLM output falls back to extractive."""
    calls: list[str] = []

    async def good(transcript: str) -> str:
        calls.append(transcript)
        return "Summary: Alice asked about pizza and Kitsu recommended pineapple."

    async def junk(_: str) -> str:
        return "the the the the the the"

    async def broken(_: str) -> str:
        raise RuntimeError("model crashed")

    results: list[str] = []
    for i in range(12):
        await store.add_turn(i, "user" if i % 2 == 0 else "assistant", f"We talk about pizza toppings, round {i}", "chat", "alice")
        summarizer = [good, junk, broken][len(results) % 3]
        result = await store.maybe_summarize(summarizer)
        if result is not None:
            results.append(result)
    assert len(results) == 3, "one summary per 4 messages"
    assert results[0] == "Alice asked about pizza and Kitsu recommended pineapple."
    assert calls[0].splitlines()[0] == "alice: We talk about pizza toppings, round 0"
    assert results[1].startswith("Talked with alice about") and "pizza" in results[1]
    assert results[2].startswith("Talked with alice about")
    async with store.db.execute("SELECT method, first_row, last_row, ts FROM summaries ORDER BY id") as cursor:
        rows = await cursor.fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("llm", 1, 4), ("extractive", 5, 8), ("extractive", 9, 12)]
    assert all(r[3] > 0 for r in rows)
    assert await store.maybe_summarize(None) is None


async def test_extractive_summary_is_deterministic(tmp_path: Path, clock: FakeClock) -> None:
    """Two stores given the same turns write the same fallback summary."""
    summaries = []
    for name in ("a", "b"):
        memory = MemoryStore(tmp_path / f"{name}.sqlite3", summary_every=3, clock=clock)
        await memory.open()
        await memory.add_turn(1, "user", "Do foxes like strawberries?", "chat", "bob")
        await memory.add_turn(1, "assistant", "Foxes love strawberries and blueberries!")
        await memory.add_turn(2, "user", "What about grapes for foxes?", "chat", "carol")
        summaries.append(await memory.maybe_summarize(None))
        await memory.close()
    assert summaries[0] == summaries[1]
    assert summaries[0] is not None and "bob, carol" in summaries[0] and "foxes" in summaries[0]


async def test_restore_window(tmp_path: Path, clock: FakeClock) -> None:
    """After a restart only summaries inside the window come back; None disables restoring."""
    path = tmp_path / "memory.sqlite3"
    memory = MemoryStore(path, summary_every=2, clock=clock)
    await memory.open()
    for label in ("old", "recent"):
        await memory.add_turn(1, "user", f"the {label} chat about volcanoes")
        await memory.add_turn(1, "assistant", f"yes the {label} volcano talk")
        assert await memory.maybe_summarize(None)
        clock.now += 3 * 3600 if label == "old" else 60
    await memory.close()

    restarted = MemoryStore(path, restore_window_s=7200, clock=clock)
    await restarted.open()
    restored = await restarted.restored_context()
    await restarted.close()
    assert len(restored) == 1 and "recent" in restored[0]

    disabled = MemoryStore(path, restore_window_s=None, clock=clock)
    await disabled.open()
    assert await disabled.restored_context() == []
    await disabled.close()


async def test_fts_recall(store: MemoryStore) -> None:
    """recall finds relevant past turns (stemmed), skips the newest ones, and survives FTS syntax in queries."""
    await store.add_turn(1, "user", "My cat is called Mochi and she loves boxes", "chat", "dana")
    await store.add_turn(1, "assistant", "Mochi sounds adorable!")
    await store.add_turn(2, "user", "I am learning to play the violin", "chat", "eve")
    await store.add_turn(2, "assistant", "Violins are so pretty.")
    found = await store.recall("what was the name of my cat?")
    assert found[0] == "dana: My cat is called Mochi and she loves boxes"
    assert await store.recall("learning the violin", limit=1) == ["eve: I am learning to play the violin"]
    assert "You: Violins are so pretty." in await store.recall("violins")
    assert await store.recall("violin", exclude_recent=2) == []
    for hostile in ['"unclosed', "NEAR(a b", "cat AND OR NOT", "*", "mochi) OR (", "col:mochi", "'; DROP TABLE turns;--"]:
        assert isinstance(await store.recall(hostile), list)
    assert await store.recall("the and of") == []
    assert await store.count() == 4


async def test_corrupt_file_is_moved_aside(tmp_path: Path, clock: FakeClock) -> None:
    """A file that is not a database is kept aside and a fresh store starts."""
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    memory = MemoryStore(path, clock=clock)
    await memory.open()
    assert memory.recovered_from is not None and memory.recovered_from.exists()
    assert await memory.add_turn(1, "user", "fresh start")
    await memory.close()


def test_kill_minus_nine_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """A writer SIGKILLed mid-loop leaves a sound database holding every acknowledged turn."""
    path = tmp_path / "memory.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    acked: list[int] = []
    for round_number, kill_after in enumerate((15, 40, 3)):
        start = round_number * 1000
        writer = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("writer.py")), str(path), str(start)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        assert writer.stdout is not None
        for seen, line in enumerate(writer.stdout, start=1):
            acked.append(int(line.split()[1]))
            if seen >= kill_after:
                break
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        assert writer.returncode == -signal.SIGKILL

        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = {row[0] for row in db.execute("SELECT turn_id FROM turns")}
            fts_rows = db.execute("SELECT COUNT(*) FROM recall WHERE kind = 'turn'").fetchone()[0]
        missing = set(acked) - stored
        assert not missing, f"acknowledged turns lost after kill -9: {sorted(missing)[:5]}"
        assert fts_rows == len(stored), "turn and its search row are committed together"


def test_llm_summary_junk_check() -> None:
    """Chat lines, off-topic text and loops from a small LLM are rejected; a real summary is kept."""
    from kitsu_tui.memory.summary import StoredTurn, clean_summary

    turns = [StoredTurn(1, 0.0, "user", "I dropped my ice cream", "fay"), StoredTurn(2, 0.0, "assistant", "Poor ice cream!")]
    assert clean_summary("Kitsu: I'm so glad you're enjoying your ice cream!", turns) is None
    assert clean_summary("The weather is nice today in Paris.", turns) is None
    assert clean_summary("ice ice ice ice ice ice", turns) is None
    assert clean_summary("", turns) is None
    kept = clean_summary("Summary: [sad] Fay dropped her ice cream and Kitsu comforted her.", turns)
    assert kept == "Fay dropped her ice cream and Kitsu comforted her."
