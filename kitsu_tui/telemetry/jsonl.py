"""A JSONL file appended on its own thread: callers never wait on the disk, and disk errors never stop them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import stat
import threading
import time
from pathlib import Path
from typing import Any

from kitsu_tui.telemetry.logs import open_append, redact_values, torn_tail, warn_operator, write_all

log = logging.getLogger("kitsu.showlog")

_CLOSE = object()


class JsonlWriter:
    """Redacts string values and appends records on a daemon thread; while the disk fails it drops records and retries.

    Each batch goes out in raw appends, so a crash or a full disk can tear at most the last line; a torn line
    is cut off before the next write, and the first write after a failure is a `showlog_gap` record with the
    number of records lost.
    """

    def __init__(self, path: Path, secrets: list[str] | None = None, max_pending: int = 10_000,
                 retry_s: float = 5.0) -> None:
        self.path = Path(path)
        self.secrets = list(secrets or [])
        self.retry_s = retry_s
        self.accepted = 0
        """Records handed to put() and queued."""
        self.written = 0
        """Records on disk."""
        self.dropped = 0
        """Records lost to a full queue, a failing disk or a value that is not JSON."""
        self.failing = ""
        """The disk error that is stopping writes now (empty while writing works)."""
        self._pending: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._torn = False
        self._retry_at = 0.0
        self._lost_since_failure = 0

    def start(self) -> None:
        """Start the writer thread (the file is opened there)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kitsu-showlog", daemon=True)
            self._thread.start()

    def put(self, record: dict[str, Any]) -> None:
        """Queue a record without blocking (safe from any thread); counts it as dropped when the queue is full."""
        try:
            self._pending.put_nowait(record)
            self.accepted += 1
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, close the file and end the thread (blocking: run it off the event loop)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._pending.put(_CLOSE)
        thread.join(timeout)

    def _run(self) -> None:
        """Thread body: wait for records, write every batch; nothing a batch does can end the thread."""
        while True:
            item = self._pending.get()
            batch = [item]
            while item is not _CLOSE:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            records = [r for r in batch if r is not _CLOSE]
            try:
                self._write(records)
            except Exception:  # a bug here must cost records, never the show log's thread
                log.warning("show log: %d records lost to an unexpected error", len(records), exc_info=True)
                self._lose(len(records))
            if batch[-1] is _CLOSE:
                self._close_file()
                return

    def _lines(self, records: list[dict[str, Any]]) -> list[bytes]:
        """Each record redacted as one JSON line; one that cannot be serialised is dropped (and counted)."""
        lines = []
        for record in records:
            try:
                text = json.dumps(redact_values(record, self.secrets), ensure_ascii=False, default=str)
            except (TypeError, ValueError, RecursionError) as exc:
                log.warning("show log: a %s record is not JSON (%s); dropped", record.get("kind", "?"), exc)
                self.dropped += 1
                continue
            lines.append((text + "\n").encode("utf-8", "replace"))
        return lines

    def _write(self, records: list[dict[str, Any]]) -> None:
        """Append the records; on a disk error report once, drop what did not reach the disk and retry later."""
        lines = self._lines(records)
        if not lines:
            return
        if self.failing and time.monotonic() < self._retry_at:
            self._lose(len(lines))
            return
        try:
            fd = self._open()
        except OSError as exc:
            self._fail(exc, len(lines))
            return
        gap = b""
        if self.failing:
            gap = (json.dumps({"kind": "showlog_gap", "lost": self._lost_since_failure, "error": self.failing})
                   + "\n").encode()
        data = gap + b"".join(lines)
        done, error = write_all(fd, data)
        if done:
            self._torn = data[done - 1] != ord("\n")
        complete = data.count(b"\n", 0, done)
        gap_written = bool(gap) and done >= len(gap)
        self.written += complete - int(gap_written)
        if error is None:
            if self.failing:
                warn_operator(log, "show log: writing %s again after losing %d records", self.path,
                              self._lost_since_failure)
                self.failing, self._lost_since_failure = "", 0
            return
        if gap_written:
            self._lost_since_failure = 0  # that gap record is on disk; count the next one afresh
        self._fail(error, len(lines) - (complete - int(gap_written)))

    def _open(self) -> int:
        """The open file (opened on first use or after an open failed); a torn last line is cut off first."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = open_append(self.path)
            self._torn = True  # look: a killed earlier writer may have left half a line
        if self._torn and stat.S_ISREG(os.fstat(self._fd).st_mode):  # (a FIFO cannot be cut)
            start = torn_tail(self._fd)
            if start is not None:
                os.ftruncate(self._fd, start)
            self._torn = False
        return self._fd

    def _fail(self, exc: Exception, lost: int) -> None:
        """Remember the error (logged once per failure), drop the batch and retry after retry_s."""
        reason = f"{type(exc).__name__}: {exc}"
        if not self.failing:
            warn_operator(log, "show log: cannot write %s (%s); the show goes on, records are dropped until it can",
                          self.path, reason)
        self.failing = reason
        self._retry_at = time.monotonic() + self.retry_s
        self._lose(lost)

    def _lose(self, count: int) -> None:
        self.dropped += count
        self._lost_since_failure += count

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
