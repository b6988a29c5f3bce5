"""Send native libraries' writes to fd 2 (llama.cpp, onnxruntime, ALSA) into a log file while a TUI owns the terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

_lock = threading.Lock()


@contextlib.contextmanager
def redirect_native_stderr(path: Path | str) -> Iterator[Path]:
    """Point file descriptor 2 at `path` (appended) for the block, then restore the terminal's stderr.

    Python's sys.stderr object is left alone (its own writes are rerouted too, since it writes to fd 2);
    C libraries that print straight to fd 2 land in the file instead of corrupting the screen.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        log_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.dup2(log_fd, 2)
        finally:
            os.close(log_fd)
    try:
        yield target
    finally:
        with _lock:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
