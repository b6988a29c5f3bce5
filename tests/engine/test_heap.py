"""Heap trimming for long shows: trims only in quiet moments, off the event loop, and really lowers RSS."""

from __future__ import annotations

import asyncio
import threading

import pytest

from kitsu_tui.engine import heap


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_trim_gives_freed_memory_back() -> None:
    """Many small blocks freed inside malloc's arenas stay in RSS until trimmed."""
    blocks = [bytearray(2048) for _ in range(60_000)]  # ~120 MB of small allocations (below mmap threshold)
    keep = blocks[::1000]
    del blocks
    before = _rss_kb()
    assert heap.trim_heap()
    after = _rss_kb()
    assert before - after > 50_000, (before, after)
    assert keep


async def test_trims_only_while_quiet_and_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []

    def trim() -> bool:
        threads.append(threading.current_thread().name)
        return True

    monkeypatch.setattr(heap, "trim_heap", trim)
    quiet = [False]
    task = asyncio.create_task(heap.trim_while_quiet(lambda: quiet[0], every_s=0.01, look_s=0.005))
    await asyncio.sleep(0.1)
    assert threads == []
    quiet[0] = True
    await asyncio.sleep(0.1)
    task.cancel()
    assert threads and threading.main_thread().name not in threads


def test_arena_cap_is_accepted() -> None:
    assert heap.cap_arenas(heap.ARENA_MAX)
