"""The LLM's run of failures: a backoff after each, the llm module failing after N, and a probe that brings it back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from kitsu_tui.engine.events import ModuleState
from kitsu_tui.engine.state import FAILING, ShowState

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0

Probe = Callable[[], Awaitable[bool]]
"""Asks the LLM (on its worker thread) whether it answers again: True, or False / an exception when not."""


def llm_failing(show: ShowState) -> bool:
    """The llm module is in error because replies failed at run time (not switched off, not a model that never loaded)."""
    state, reason = show.module_states.get("llm", (ModuleState.OFF, ""))
    return state == ModuleState.ERROR and reason.startswith(FAILING)


class LlmHealth:
    """Counts consecutive failed replies, and while the llm module is failing probes the LLM until it answers."""

    def __init__(self, show: ShowState, fail_after: int, clock: Callable[[], float] = time.monotonic,
                 probe_first_s: float = 2.0, probe_max_s: float = 10.0) -> None:
        self.show = show
        self.fail_after = fail_after
        self.clock = clock
        self.probe_first_s = probe_first_s
        self.probe_max_s = probe_max_s
        self.failures = 0
        self.error = ""
        """The last failure's text (a reply's or a probe's), shown in the failing module's reason."""
        self.retry_in_s = probe_first_s
        """The wait before the next probe."""
        self.waiting = 0
        """Turns waiting for the LLM (the queue's count, shown in the failing module's reason)."""
        self._retry_at = 0.0
        self._down = asyncio.Event()

    @property
    def down(self) -> bool:
        """The llm module is failing: LLM turns wait and the probe runs."""
        return llm_failing(self.show)

    def refusal(self) -> str:
        """Why an LLM turn cannot run now ('' while the llm module is on)."""
        return "" if self.show.module_on("llm") else self.show.module_reason("llm")

    def backoff_s(self) -> float:
        """Seconds the next LLM call should still wait (0 when the last reply worked)."""
        return max(0.0, self._retry_at - self.clock())

    def failed(self, reason: str) -> None:
        """One more failure: the backoff doubles (0.5 s up to 8 s); the N-th in a row marks the llm module failing."""
        self.failures += 1
        self._retry_at = self.clock() + min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self.failures - 1))
        if self.failures >= self.fail_after and self.show.module_on("llm"):
            self.error = reason
            self._announce()
            self.show.notice("error", f"llm failed {self.failures} times in a row: {reason}; turns wait, retrying "
                                      f"in {self.retry_in_s:g}s (toggle it on to retry now)")
            self._down.set()

    def succeeded(self) -> None:
        """A reply worked: no backoff, the count starts over, the next outage's first probe comes soon."""
        self.failures = 0
        self._retry_at = 0.0
        self.retry_in_s = self.probe_first_s

    def set_waiting(self, count: int) -> None:
        """The queue's count of turns waiting for the LLM changed: the failing module's reason shows it."""
        changed, self.waiting = count != self.waiting, count
        if changed and self.down:
            self._announce()

    async def wait(self, stale: Callable[[], bool]) -> None:
        """Sleep out the backoff before calling the LLM again (ends early once `stale()`: the turn was interrupted)."""
        while (left := self.backoff_s()) > 0 and not stale():  # noqa: ASYNC110 - a short, bounded poll
            await asyncio.sleep(min(left, 0.1))

    async def recover(self, probe: Probe) -> None:
        """Forever: once the module is failing, probe the LLM (the wait doubling up to probe_max_s) until it answers.

        An operator toggle (on: an immediate retry; off: turns refused) ends the probing; panic does not.
        """
        while True:
            await self._down.wait()
            self._down.clear()
            while self.down:
                await asyncio.sleep(self.retry_in_s)
                if not self.down:
                    break
                ok, error = await _ask(probe)
                if not self.down:
                    break  # the operator toggled the module meanwhile
                if ok:
                    self._recovered()
                    break
                self.error, self.retry_in_s = error, min(self.probe_max_s, self.retry_in_s * 2)
                self._announce()

    def _recovered(self) -> None:
        """The probe got an answer: the module is on and the operator told once; no backoff before the next reply.

        The count only starts over once a reply works: until then one more failure sets the module failing again,
        and the probe waits twice as long then (a probe is a weaker test than a reply: a flapping LLM stays quiet).
        """
        self._retry_at = 0.0
        self.retry_in_s = min(self.probe_max_s, self.retry_in_s * 2)
        self.show.set_module_state("llm", ModuleState.ON, "answered again")
        self.show.notice("info", "llm is back" + (f"; {self.waiting} waiting turn(s) go on in order" if self.waiting else ""))

    def _announce(self) -> None:
        """Show the module failing, with the run of failures, the last error, the next retry and who waits."""
        self.show.set_module_state("llm", ModuleState.ERROR,
                                   f"{FAILING}{self.failures} replies in a row ({self.error}); retrying in "
                                   f"{self.retry_in_s:g}s, {self.waiting} waiting")


async def _ask(probe: Probe) -> tuple[bool, str]:
    """Run one probe: (answered, why not)."""
    try:
        ok = await probe()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return ok, "" if ok else "the LLM did not answer the probe"
