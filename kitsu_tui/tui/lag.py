"""Measures how late a short timer fires on the UI loop: the worst lateness is the worst stall."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

log = logging.getLogger(__name__)


class LagProbe:
    """Runs a 10 ms sleep loop on the event loop, records the worst lateness and logs long stalls."""

    def __init__(self, interval_s: float = 0.01, warn_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.warn_s = warn_s
        self.worst_s = 0.0
        self.samples = 0
        self.stalls = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin measuring on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kitsu-lag-probe")

    def reset(self) -> None:
        """Forget the worst stall so far (e.g. once start-up is over)."""
        self.worst_s, self.samples, self.stalls = 0.0, 0, 0

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            late = time.perf_counter() - before - self.interval_s
            self.samples += 1
            if late > self.worst_s:
                self.worst_s = late
            if late > self.warn_s:
                self.stalls += 1
                log.warning("UI loop stalled %.0f ms", late * 1000)

    async def stop(self) -> None:
        """Stop measuring."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
