"""A full disk for this process only: files it has open under a folder write to /dev/full (ENOSPC) until restored."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

_FD_DIR = Path("/proc/self/fd")


def open_fds_under(folder: Path) -> dict[int, Path]:
    """This process's file descriptors whose file lies under `folder` (deleted files and sockets left out)."""
    root = Path(os.path.realpath(folder))
    found: dict[int, Path] = {}
    for entry in os.listdir(_FD_DIR):
        try:
            target = os.readlink(_FD_DIR / entry)
        except OSError:
            continue  # closed since the listing (the listing's own descriptor, too)
        if not target.startswith("/") or target.endswith(" (deleted)"):
            continue
        path = Path(target)
        if path.is_relative_to(root):
            found[int(entry)] = path
    return found


class DiskFault:
    """What fill_disk did: which descriptors write to /dev/full now; restore() gives every one its file back."""

    def __init__(self, folder: Path, rescan_s: float | None) -> None:
        self.folder = Path(folder)
        self.rescan_s = rescan_s
        self.faulted: dict[int, Path] = {}
        """Descriptor -> the file it wrote to before it was pointed at /dev/full."""
        self._full = os.open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)
        self._full_id = _identity(self._full)
        self._saved: dict[int, tuple[int, bool]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Fault every open file under the folder now; with rescan_s, also the files opened later, every rescan_s."""
        self.scan()
        if self.rescan_s is not None:
            self._thread = threading.Thread(target=self._rescan, name="kitsu-diskfault", daemon=True)
            self._thread.start()

    def scan(self) -> list[int]:
        """Point every open descriptor under the folder at /dev/full (a copy of each is kept); the new ones."""
        added: list[int] = []
        with self._lock:
            copies = {copy for copy, _ in self._saved.values()}
            for fd, path in open_fds_under(self.folder).items():
                if fd in copies:
                    continue  # the copies kept for restore() stay what they are
                try:
                    copy = os.dup(fd)
                except OSError:
                    continue  # closed meanwhile
                if not _same_file(copy, path):  # closed and its number reused meanwhile: leave it alone
                    os.close(copy)
                    continue
                inheritable = os.get_inheritable(fd)
                old = self._saved.pop(fd, None)
                if old is not None:  # its owner closed the faulted descriptor and the number was reused
                    os.close(old[0])
                os.dup2(self._full, fd, inheritable=inheritable)
                self._saved[fd] = (copy, inheritable)
                self.faulted[fd] = path
                added.append(fd)
        return added

    def _rescan(self) -> None:
        assert self.rescan_s is not None
        while not self._stop.wait(self.rescan_s):
            self.scan()

    def restore(self) -> None:
        """Give each descriptor that still writes to /dev/full its file back; close the copies."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for fd, (copy, inheritable) in self._saved.items():
                with contextlib.suppress(OSError):
                    if _identity(fd) == self._full_id:  # not closed (and reused) by its owner meanwhile
                        os.dup2(copy, fd, inheritable=inheritable)
                os.close(copy)
            self._saved.clear()
            self.faulted.clear()
            os.close(self._full)


def _same_file(fd: int, path: Path) -> bool:
    """Whether a descriptor refers to the file at `path`."""
    try:
        return _identity(fd)[:2] == _identity_of(path)
    except OSError:
        return False


def _identity_of(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _identity(fd: int) -> tuple[int, int, int]:
    """Device, inode and special-device number of what a descriptor refers to."""
    info = os.fstat(fd)
    return info.st_dev, info.st_ino, info.st_rdev


@contextlib.contextmanager
def fill_disk(paths_under: Path, rescan_s: float | None = 0.05) -> Iterator[DiskFault]:
    """While inside, writes to every file this process has open under `paths_under` fail with ENOSPC (No space left).

    Each such descriptor is dup2'd onto /dev/full and gets its own file back on exit (same offset, same flags),
    so the writer sees a full disk, not a closed file. With `rescan_s` (default 50 ms) files opened under the
    folder while inside are caught too, within that time; None faults only the files open on entry.
    Reads through a faulted descriptor fail too (EBADF): aim it at append-only logs, not at a database. Files
    opened afresh outside the folder are untouched, and only this process is affected. Linux only (/proc/self/fd).
    """
    fault = DiskFault(paths_under, rescan_s)
    try:
        fault.start()
        yield fault
    finally:
        fault.restore()
