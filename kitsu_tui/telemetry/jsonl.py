"""A JSONL file appended on its own thread: callers never wait on the disk, and disk errors never stop them."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path
from typing import IO, Any

from kitsu_tui.telemetry.logs import redact_values

log = logging.getLogger("kitsu.showlog")

_CLOSE = object()


class JsonlWriter:
    """Redacts string values and appends records on a daemon thread; while the disk fails it drops records and retries."""

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
        """Records lost to a full queue or a failing disk."""
        self.failing = ""
        """The disk error that is stopping writes now (empty while writing works)."""
        self._pending: queue.Queue[Any] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self._stream: IO[str] | None = None
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
        """Thread body: wait for records, write every batch, flush once per batch."""
        while True:
            item = self._pending.get()
            batch = [item]
            while item is not _CLOSE:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            self._write([r for r in batch if r is not _CLOSE])
            if batch[-1] is _CLOSE:
                self._close_stream()
                return

    def _write(self, records: list[dict[str, Any]]) -> None:
        """Serialise, redact and append records; on a disk error report once, drop them and retry later."""
        lines = [json.dumps(redact_values(r, self.secrets), ensure_ascii=False, default=str) + "\n" for r in records]
        if self.failing and time.monotonic() < self._retry_at:
            self._lose(len(lines))
            return
        try:
            if self._stream is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the show
            if self.failing:
                gap = {"kind": "showlog_gap", "lost": self._lost_since_failure, "error": self.failing}
                self._stream.write(json.dumps(gap) + "\n")
            self._stream.write("".join(lines))
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self._fail(exc, len(lines))
            return
        if self.failing:
            log.warning("show log: writing %s again after losing %d records", self.path, self._lost_since_failure)
            self.failing, self._lost_since_failure = "", 0
        self.written += len(lines)

    def _fail(self, exc: Exception, lost: int) -> None:
        """Remember the error (logged once per failure), drop the batch and retry after retry_s."""
        reason = f"{type(exc).__name__}: {exc}"
        if not self.failing:
            log.warning("show log: cannot write %s (%s); the show goes on, records are dropped until it can",
                        self.path, reason)
        self.failing = reason
        self._retry_at = time.monotonic() + self.retry_s
        self._close_stream()
        self._lose(lost)

    def _lose(self, count: int) -> None:
        self.dropped += count
        self._lost_since_failure += count

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError as exc:
                log.warning("show log: closing %s failed: %s", self.path, exc)
