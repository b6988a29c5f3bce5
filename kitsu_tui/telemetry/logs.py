"""Structured JSON logs, one file per day under KITSU_LOG_ROOT (default logs/), with secrets redacted."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
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


class DailyFileHandler(logging.Handler):
    """Appends to DIR/kitsu-YYYY-MM-DD.jsonl, switching files at midnight (UTC)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self._day = ""
        self._stream: Any = None

    def path_for(self, day: str) -> Path:
        """The log file of a day."""
        return self.directory / f"kitsu-{day}.jsonl"

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted line."""
        try:
            day = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%d")
            if day != self._day or self._stream is None:
                if self._stream is not None:
                    self._stream.close()
                self.directory.mkdir(parents=True, exist_ok=True)
                self._stream = open(self.path_for(day), "a", encoding="utf-8")  # noqa: SIM115
                self._day = day
            self._stream.write(self.format(record) + "\n")
            self._stream.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Close the current file."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()


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
