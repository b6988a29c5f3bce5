"""Clean exits: SIGINT and SIGTERM become one orderly stop, bounded in time, that leaves no thread behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from kitsu_tui.backends.worker import abandoned_calls

log = logging.getLogger(__name__)

EXIT_BUDGET_S = 5.0
"""From the first signal to the process's end."""
SIGNAL_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""Exit codes of a run cut short by a signal (128 + the signal's number)."""
_watchdog = False


def enable_watchdog() -> None:
    """Let a signal arm a timer that ends the process with os._exit once the stop overruns (the CLI only)."""
    global _watchdog
    _watchdog = True


class ExitSignals:
    """While entered, SIGINT and SIGTERM call `on_signal(signum)` once; later signals are only logged."""

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self.on_signal = on_signal
        self.received: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: threading.Timer | None = None

    def __enter__(self) -> ExitSignals:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            for sig in SIGNAL_CODES:
                loop.add_signal_handler(sig, self._handle, sig)
            self._loop = loop
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._loop is not None:
            for sig in SIGNAL_CODES:
                with contextlib.suppress(Exception):
                    self._loop.remove_signal_handler(sig)
        if self._timer is not None:
            self._timer.cancel()

    def code(self, default: int = 0, term: int | None = None) -> int:
        """The exit code: 130 after SIGINT, `term` (default 143) after SIGTERM, else `default`."""
        if self.received == signal.SIGTERM and term is not None:
            return term
        return SIGNAL_CODES.get(signal.Signals(self.received), default) if self.received else default

    def _handle(self, signum: int) -> None:
        """The first signal starts the stop (and the watchdog); a second one changes nothing: the stop is bounded."""
        if self.received is not None:
            log.info("signal %s while stopping: the stop is already under way", signum)
            return
        self.received = signum
        if _watchdog:
            self._timer = threading.Timer(EXIT_BUDGET_S, _overrun, (SIGNAL_CODES.get(signal.Signals(signum), 1),))
            self._timer.daemon = True
            self._timer.start()
        self.on_signal(signum)


def _overrun(code: int) -> None:
    """Timer thread: the stop took longer than promised; end the process now."""
    with contextlib.suppress(OSError):
        os.write(2, b"kitsu: the stop took too long; exiting now\n")
    os._exit(code)


def lingering_threads() -> list[str]:
    """Threads that would keep the interpreter from exiting, or run native code under its finalization."""
    main = threading.main_thread()
    held = [t.name for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]
    return held + abandoned_calls()


def finish(code: int) -> int:
    """Return `code`, or end the process at once (os._exit) when a thread would hold it open."""
    held = lingering_threads()
    if not held:
        return code
    unexpected = len(held) > len(abandoned_calls())  # a busy model call is expected; another thread is not
    log.log(logging.WARNING if unexpected else logging.INFO, "exiting with threads still running: %s", ", ".join(held))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    logging.shutdown()
    os._exit(code)
