"""Helper process for the kill -9 test: writes turns forever, printing 'ack N' after each commit."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kitsu_tui.memory import MemoryStore


async def main(path: Path, start: int) -> None:
    """Add numbered turns in a loop; each ack is printed only after add_turn returned."""
    store = MemoryStore(path, summary_every=5)
    await store.open()
    turn = start
    while True:
        stored = await store.add_turn(turn, "user" if turn % 2 else "assistant", f"message number {turn} about foxes")
        assert stored
        print(f"ack {turn}", flush=True)
        if turn % 7 == 0:
            await store.maybe_summarize(None)
        turn += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
