"""One show at a time owns the audio devices: an advisory lock file that dies with its process (even kill -9)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

LOCK_NAME = "kitsu-show.lock"


class ShowRunning(Exception):
    """Another show holds the lock; `holder` is what it wrote about itself (pid, API URL)."""

    def __init__(self, path: Path, holder: dict[str, object]) -> None:
        self.path = path
        self.holder = holder
        pid = holder.get("pid", "?")
        super().__init__(f"a show is already running (pid {pid})")

    def advice(self) -> str:
        """The one line a second `kitsu run` prints."""
        url = self.holder.get("api", "")
        where = f", control API at {url}" if url else ""
        return (f"a show is already running (pid {self.holder.get('pid', '?')}{where}): open its console with "
                f"`kitsu attach`, or end it with `kitsu stop`")


class ShowLock:
    """Held for the whole life of a show (console or headless); released on exit or by the kernel on a crash."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self, api_url: str = "") -> None:
        """Take the lock or raise ShowRunning with the holder's details."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the show's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = _parse(handle.read())
            handle.close()
            raise ShowRunning(self.path, holder) from None
        self._file = handle
        self.describe(api_url)

    def describe(self, api_url: str) -> None:
        """Write who holds the lock (pid, start time, the control API's URL) for a second `kitsu run` to read."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"pid": os.getpid(), "started": time.time(), "api": api_url}))
        self._file.flush()

    def release(self) -> None:
        """Give the devices back."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _parse(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
