"""The LLM's run of failures: a backoff before the next call after each, and the llm module in error after N."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kitsu_tui.engine.events import ModuleState
from kitsu_tui.engine.state import FAILING, ShowState

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0


class LlmHealth:
    """Counts consecutive failed replies; a reply that works resets the count and the backoff."""

    def __init__(self, show: ShowState, fail_after: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.show = show
        self.fail_after = fail_after
        self.clock = clock
        self.failures = 0
        self._retry_at = 0.0

    def backoff_s(self) -> float:
        """Seconds the next LLM call should still wait (0 when the last reply worked)."""
        return max(0.0, self._retry_at - self.clock())

    def failed(self, reason: str) -> None:
        """One more failure: the backoff doubles (0.5 s up to 8 s); the N-th in a row marks the llm module in error."""
        self.failures += 1
        self._retry_at = self.clock() + min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self.failures - 1))
        if self.failures >= self.fail_after and self.show.module_on("llm"):
            self.show.set_module_state("llm", ModuleState.ERROR, f"{FAILING}{self.failures} replies in a row ({reason})")
            self.show.notice("error", f"llm failed {self.failures} times in a row: {reason}; toggle it on to retry")

    def succeeded(self) -> None:
        """A reply worked: no backoff, the count starts over."""
        self.failures = 0
        self._retry_at = 0.0

    async def wait(self, stale: Callable[[], bool]) -> None:
        """Sleep out the backoff before calling the LLM again (ends early once `stale()`: the turn was interrupted)."""
        while (left := self.backoff_s()) > 0 and not stale():  # noqa: ASYNC110 - a short, bounded poll
            await asyncio.sleep(min(left, 0.1))
