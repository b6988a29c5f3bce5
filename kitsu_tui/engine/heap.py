"""Keeps the heap calm for long shows: start-up objects frozen out of full GC passes, malloc arenas capped and trimmed."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def freeze_long_lived() -> float:
    """Collect once, then move every surviving object out of the cyclic collector's view; returns the ms spent.

    A full (generation 2) collection walks every tracked object. With the models' Python side, Textual and
    the engine loaded that was a 66-110 ms pause of the event loop on a 2-core CPU, every few turns: the
    console's worst stall. Frozen objects are never scanned again (they are still freed by reference
    counting), so later full passes only walk what the show created since.
    """
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    spent = (time.perf_counter() - started) * 1000
    log.info("heap settled: %d objects frozen in %.0f ms", gc.get_freeze_count(), spent)
    return spent


#: glibc's mallopt parameter number for the arena cap (malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
#: Malloc arenas kept at most: the default (8 per core) lets each model thread keep its own high-water heap.
ARENA_MAX = 4
#: Seconds between two heap trims; each runs only while nothing is said or generated.
TRIM_EVERY_S = 60.0


def _libc() -> ctypes.CDLL | None:
    """glibc, when this process runs on it (trim and arena cap are glibc calls; elsewhere they are skipped)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def cap_arenas(limit: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; True when the cap was set."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, limit) == 1)


def trim_heap() -> bool:
    """Hand the free pages of every malloc arena back to the OS; True when some memory was released."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


async def trim_while_quiet(quiet: Callable[[], bool], every_s: float = TRIM_EVERY_S, look_s: float = 10.0) -> None:
    """Trim the heap (on a worker thread) at most every `every_s`, at a moment when `quiet()` says nothing is
    said or generated (looked for every `look_s`: a busy show still has gaps between turns).

    Long replies and model buffers leave freed memory inside malloc's arenas; glibc keeps it as the arena's
    high-water mark, so RSS climbs in steps over an hours-long show although nothing leaks. A trim in a quiet
    moment gives it back; it takes a few ms and never runs on the event loop.
    """
    last = time.monotonic()
    while True:
        await asyncio.sleep(min(look_s, every_s))
        if time.monotonic() - last < every_s or not quiet():
            continue
        last = time.monotonic()
        released = await asyncio.to_thread(trim_heap)
        log.debug("heap trim: %s", "memory released" if released else "nothing to release")
