"""What each fault kind does to the real show: the LLM proxy's mode, a raising TTS, a lost output, a locked DB,
a full log disk; each target has begin() and end()."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from kitsu_tui.backends.base import Audio, TtsBackend

DB_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
db.close()
"""
"""Another process that takes the memory DB's exclusive lock and holds it until its stdin closes."""


class FaultTarget(Protocol):
    """Starts and ends one kind of fault on the running show."""

    def begin(self) -> None:
        """Break it."""

    def end(self) -> None:
        """Mend it."""


class InjectedFault(RuntimeError):
    """The error a faulty part raises while its fault is on."""


class FaultyTts:
    """The show's TTS backend, raising on every sentence while `broken`; otherwise the real voice answers."""

    def __init__(self, inner: TtsBackend) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.broken = threading.Event()
        self.raised = 0

    def load(self) -> None:
        """Load the real voice."""
        self.inner.load()
        self.sample_rate = self.inner.sample_rate

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """The real synthesis, or an InjectedFault while the fault is on."""
        if self.broken.is_set():
            self.raised += 1
            raise InjectedFault("injected fault: speech synthesis failed")
        return self.inner.synthesize(text, speed)


class TtsFault:
    """Breaks the FaultyTts for the fault's window."""

    def __init__(self, tts: FaultyTts) -> None:
        self.tts = tts

    def begin(self) -> None:
        """Every synthesis raises from now."""
        self.tts.broken.set()

    def end(self) -> None:
        """Synthesis works again."""
        self.tts.broken.clear()


class ProxyFault:
    """Switches the LLM fault proxy to one mode for the window, back to pass-through after."""

    def __init__(self, set_mode: Callable[[str], None], mode: str) -> None:
        self.set_mode = set_mode
        self.mode = mode

    def begin(self) -> None:
        """The LLM server misbehaves."""
        self.set_mode(self.mode)

    def end(self) -> None:
        """The LLM server is healthy again."""
        self.set_mode("pass")


class Losable(Protocol):
    """An audio output that can be made to disappear and come back (the soak's null sink)."""

    def lose(self) -> None:
        """The device vanishes."""

    def restore(self) -> None:
        """The device is back."""


class OutputFault:
    """The audio output device disappears for the window."""

    def __init__(self, output: Losable) -> None:
        self.output = output

    def begin(self) -> None:
        """Unplug."""
        self.output.lose()

    def end(self) -> None:
        """Plug back in."""
        self.output.restore()


class DbLockFault:
    """Another process holds an exclusive lock on the memory DB for the window."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._process: subprocess.Popen[str] | None = None

    def begin(self) -> None:
        """Start the locking process and wait until it holds the lock."""
        process = self._process = subprocess.Popen([sys.executable, "-c", DB_LOCKER, str(self.path)],
                                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        if process.stdout.readline().strip() != "locked":  # it could not take the lock: say so, leave nothing
            self.end()
            raise RuntimeError(f"could not lock {self.path}")

    def end(self) -> None:
        """Release the lock and reap the process."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)


class DiskFullFault:
    """Every file this process has open under the log directory fails with ENOSPC for the window."""

    def __init__(self, directory: Path, fill: Callable[[Path], AbstractContextManager[object]]) -> None:
        self.directory = directory
        self.fill = fill
        self._held: AbstractContextManager[object] | None = None

    def begin(self) -> None:
        """The disk fills up."""
        self._held = self.fill(self.directory)
        self._held.__enter__()

    def end(self) -> None:
        """Space is freed."""
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)



class PeerFault:
    """A peer behind a TcpProxy dies (connections cut, port refusing) for the window and then comes back."""

    def __init__(self, down: Callable[[], None], up: Callable[[], None]) -> None:
        self.down = down
        self.up = up

    def begin(self) -> None:
        """The peer is killed."""
        self.down()

    def end(self) -> None:
        """The peer is restarted."""
        self.up()
