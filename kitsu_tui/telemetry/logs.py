"""Structured JSON logs, one file per day under KITSU_LOG_ROOT (default logs/), with secrets redacted."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any, TextIO

_SECRET_ENV_HINTS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY", "OAUTH")
_SECRET_PATTERNS = [
    re.compile(r"oauth:[A-Za-z0-9]{10,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"(?i)((?:password|passwd|token|secret|api[_-]?key|authenticationToken)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{4,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{12,}"),
]
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def secret_values() -> list[str]:
    """Values of environment variables that look like secrets (long enough to be worth hiding)."""
    return [v for k, v in os.environ.items() if any(h in k.upper() for h in _SECRET_ENV_HINTS) and len(v) >= 4]


def redact(text: str, extra_secrets: list[str] | None = None) -> str:
    """Replace known secret values and secret-looking patterns with ***."""
    for value in [*secret_values(), *(extra_secrets or [])]:
        if value:
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.lastindex else "") + "***", text)
    return text


def redact_values(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy with every string value redacted; keys and numbers stay (so `"llm_first_token": 1468.9` survives)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: redact_values(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_values(item, secrets) for item in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, module, logger, level, message, extras; secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise a record."""
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "module": record.module,
            "logger": record.name,
            "level": record.levelname,
            "message": record.getMessage(),
        }
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if extras:
            payload["extras"] = extras
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        plain = json.loads(json.dumps(payload, default=str))  # extras as JSON types, then redact only the strings
        return json.dumps(redact_values(plain), ensure_ascii=False)


def open_append(path: Path) -> int:
    """Open a log file for appending raw lines (created 0o644, closed on exec); readable too when it is a regular file."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        regular = True
    access = os.O_RDWR if regular else os.O_WRONLY  # a FIFO opened for reading would not wait for its reader
    return os.open(path, access | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def torn_tail(fd: int, chunk: int = 65536) -> int | None:
    """Where a torn last line (a crash or a full disk mid-write) starts, or None when the file ends with a newline.

    Only regular files opened readable are looked at; anything else counts as not torn.
    """
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return None
        end = info.st_size
        if os.pread(fd, 1, end - 1) == b"\n":
            return None
        while end > 0:
            start = max(0, end - chunk)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    except OSError:
        return None
    return 0


def write_all(fd: int, data: bytes) -> tuple[int, OSError | None]:
    """Write every byte (short writes continued): the bytes written and the error that stopped it (None when none)."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        try:
            count = os.write(fd, view[done:])
        except OSError as exc:
            return done, exc
        if count == 0:
            return done, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += count
    return done, None


class DailyFileHandler(logging.Handler):
    """Appends to DIR/kitsu-YYYY-MM-DD.jsonl, switching files at midnight (UTC).

    A disk that fails (full, gone) never stops the show: lines are dropped, the console (or stderr) is told once,
    writes are retried every `retry_s`, and the first line written again says how many were dropped.
    """

    def __init__(self, directory: Path, retry_s: float = 1.0) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.retry_s = retry_s
        self.failing = ""
        """The disk error that stops writes now (empty while writing works)."""
        self.dropped = 0
        """Lines lost since writing last failed, not yet reported in the file."""
        self.dropped_total = 0
        """Lines lost since the handler was made."""
        self._day = ""
        self._fd: int | None = None
        self._torn = False
        self._retry_at = 0.0

    def path_for(self, day: str) -> Path:
        """The log file of a day."""
        return self.directory / f"kitsu-{day}.jsonl"

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted line; a disk error drops it (and says so once), it never raises or prints a traceback."""
        try:
            body = (self.format(record) + "\n").encode("utf-8", "replace")
        except Exception:
            self.handleError(record)  # a bad record or format string: logging's usual report
            return
        if self.failing and time.monotonic() < self._retry_at:
            self._drop()
            return
        try:
            fd = self._file_for(record.created)
        except OSError as exc:
            self._fail(exc)
            return
        head = b"\n" if self._torn else b""
        if self.failing:
            head += self._dropped_line()
        data = head + body
        done, error = write_all(fd, data)
        if done:
            self._torn = data[done - 1] != ord("\n")
        if error is None:
            if self.failing:
                self._tell(f"log file {self.path_for(self._day)} is written again; "
                           f"{self.dropped} log lines were dropped while it could not be")
                self.failing, self.dropped = "", 0
            return
        if self.failing and done >= len(head):
            self.dropped = 0  # the count reached the file; this line starts the next one
        self._fail(error)

    def _file_for(self, created: float) -> int:
        """The open file of the record's day (opened, or switched at midnight, as needed)."""
        day = dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%d")
        if self._fd is not None and day == self._day:
            return self._fd
        self._close_file()
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = open_append(self.path_for(day))
        self._fd, self._day = fd, day
        self._torn = torn_tail(fd) is not None  # a process killed mid-line: start on a line of our own
        return fd

    def _dropped_line(self) -> bytes:
        """The JSON line that says how many lines were lost and why."""
        record = logging.LogRecord("kitsu.logs", logging.WARNING, __file__, 0,
                                   "%d log lines dropped while the log file could not be written (%s)",
                                   (self.dropped, self.failing), None)
        record.dropped = self.dropped
        try:
            return (self.format(record) + "\n").encode("utf-8", "replace")
        except Exception:
            return (json.dumps({"level": "WARNING", "logger": "kitsu.logs", "message": record.getMessage()}) + "\n").encode()

    def _fail(self, exc: OSError) -> None:
        """Drop the line; the first failure of a run of them tells the console (no traceback per line)."""
        first = not self.failing
        self.failing = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_s
        self._drop()
        if first:
            self._tell(f"cannot write the log file in {self.directory} ({self.failing}); "
                       "log lines are dropped until it can be written again (the show goes on)")

    def _drop(self) -> None:
        self.dropped += 1
        self.dropped_total += 1

    def _tell(self, message: str) -> None:
        """One warning on kitsu's console handlers, or on stderr when there is none (never into the failing file)."""
        record = logging.LogRecord("kitsu.logs", logging.WARNING, __file__, 0, message, None, None)
        consoles = [h for h in logging.getLogger().handlers if isinstance(h, _ConsoleHandler)]
        for console in consoles:
            if record.levelno >= console.level:
                console.handle(record)
        if not consoles:
            _to_stderr(message)

    def _close_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        """Close the current file."""
        self.acquire()
        try:
            self._close_file()
        finally:
            self.release()
        super().close()


def warn_operator(logger: logging.Logger, message: str, *args: object) -> None:
    """A warning the operator must see: logged as usual, and on stderr as well when kitsu has no console handler."""
    logger.warning(message, *args)
    if not any(isinstance(h, _ConsoleHandler) for h in logging.getLogger().handlers):
        _to_stderr(message % args if args else message)


def _to_stderr(message: str) -> None:
    """One `kitsu:` line on stderr (the Textual console captures it while it runs); never raises."""
    try:
        sys.stderr.write(f"kitsu: {redact(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # stderr is gone or on the same full disk: nobody left to tell


def setup_logging(log_dir: Path, level: int = logging.INFO, stderr_level: int | None = None) -> Path:
    """Route all logging to the daily JSON file (and optionally stderr); returns the log directory."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, DailyFileHandler | _ConsoleHandler):
            root.removeHandler(handler)
            handler.close()
    file_handler = DailyFileHandler(Path(log_dir))
    file_handler.setFormatter(JsonFormatter())
    file_handler.setLevel(level)
    root.addHandler(file_handler)
    if stderr_level is not None:
        console = _ConsoleHandler(sys.stderr)
        console.setLevel(stderr_level)
        console.setFormatter(_RedactingFormatter("kitsu: %(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    root.setLevel(min(level, stderr_level or level))
    for noisy in ("httpx", "httpcore", "websockets", "asyncio", "faster_whisper", "obsws_python"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return Path(log_dir)


class _ConsoleHandler(logging.StreamHandler[TextIO]):
    """kitsu's own stderr handler (a second setup_logging replaces it, never a handler someone else added)."""


class _RedactingFormatter(logging.Formatter):
    """Plain-text formatter that redacts secrets."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def read_log_lines(log_dir: Path, limit: int = 200, min_level: str = "DEBUG") -> list[dict[str, Any]]:
    """The newest `limit` entries (oldest first) of the daily JSON logs at or above `min_level`.

    Lines that are not JSON objects (a crash mid-write, a hand edit) come back as ERROR entries
    naming the file and line, so the console's log view never breaks on them.
    """
    floor = _LEVELS.get(min_level.upper(), 10)
    files = sorted(Path(log_dir).glob("kitsu-????-??-??.jsonl"), reverse=True)
    newest_first: list[dict[str, Any]] = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            newest_first.append({"level": "ERROR", "logger": "kitsu.logs", "message": f"cannot read {path}: {exc}"})
            continue
        for number in range(len(lines), 0, -1):
            line = lines[number - 1].strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError:
                entry = {"level": "ERROR", "logger": "kitsu.logs", "message": f"{path.name}:{number}: unreadable log line"}
            if _LEVELS.get(str(entry.get("level", "INFO")).upper(), 20) >= floor:
                newest_first.append(entry)
            if len(newest_first) >= limit:
                return newest_first[::-1]
    return newest_first[::-1]
