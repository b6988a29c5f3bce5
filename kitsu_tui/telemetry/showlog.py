"""The show log: one JSONL file per show with turns, moderation, operator actions, incidents and telemetry."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr

from kitsu_tui import __version__
from kitsu_tui.engine.events import (
    Event,
    Interrupted,
    ModerationDecided,
    ModuleState,
    ModuleStateChanged,
    Notice,
    OperatorAction,
    PanicStepsDone,
    PersonaChanged,
    StageError,
    SystemStatsSampled,
    TurnCompleted,
    TurnRejected,
)
from kitsu_tui.telemetry.jsonl import JsonlWriter

if TYPE_CHECKING:
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import EngineApi

log = logging.getLogger("kitsu.showlog")

SHOWS_DIR = "shows"
"""Sub-directory of the log root that holds the show logs."""


def shows_dir(log_dir: Path) -> Path:
    """Where the show logs of a log root live."""
    return Path(log_dir) / SHOWS_DIR


def new_show_path(log_dir: Path, started: dt.datetime | None = None) -> Path:
    """A fresh file name for a show starting now: shows/show-YYYYMMDD-HHMMSS.jsonl (-2, -3... when taken)."""
    stamp = (started or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = shows_dir(log_dir)
    path, n = folder / f"show-{stamp}.jsonl", 1
    while path.exists():
        n += 1
        path = folder / f"show-{stamp}-{n}.jsonl"
    return path


def latest_show(log_dir: Path) -> Path | None:
    """The most recent show log under a log root, or None."""
    shows = sorted(shows_dir(log_dir).glob("show-*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    return shows[-1] if shows else None


def event_record(event: Event) -> dict[str, Any] | None:
    """The show-log fields of an event (without time stamps), or None for events the show log skips."""
    if isinstance(event, TurnCompleted):
        return {"kind": "turn", "record": event.record}
    if isinstance(event, ModerationDecided):
        return {"kind": "moderation", "turn": event.turn_id, "stage": event.stage, "action": event.action,
                "rule": event.rule, "author": event.author, "text": event.text, "detail": event.detail}
    if isinstance(event, OperatorAction):
        return {"kind": "operator", "turn": event.turn_id, "action": event.action, "detail": event.detail,
                "by": event.by}
    if isinstance(event, PanicStepsDone):
        return {"kind": "panic_step", "module": event.module, "engaged": event.engaged, "steps": list(event.steps),
                "elapsed_ms": event.elapsed_ms, "error": event.error}
    if isinstance(event, ModuleStateChanged):
        return {"kind": "module", "module": event.module, "state": str(event.state), "reason": event.reason}
    if isinstance(event, StageError):
        return {"kind": "error", "turn": event.turn_id, "stage": event.stage, "message": event.message}
    if isinstance(event, Notice) and event.level in ("warning", "error"):
        return {"kind": "notice", "level": event.level, "message": event.message}
    if isinstance(event, Interrupted):
        return {"kind": "interrupted", "turn": event.turn_id, "reason": event.reason}
    if isinstance(event, TurnRejected):
        return {"kind": "rejected", "turn": event.turn_id, "source": str(event.source), "author": event.author,
                "reason": event.reason}
    if isinstance(event, PersonaChanged):
        return {"kind": "persona", "name": event.name}
    if isinstance(event, SystemStatsSampled):
        return {"kind": "telemetry", "cpu_percent": event.cpu_percent, "rss_mb": event.rss_mb,
                "gpus": [{"index": g.index, "name": g.name, "utilization_pct": g.utilization_pct,
                          "memory_used_mb": g.memory_used_mb, "memory_total_mb": g.memory_total_mb,
                          "temperature_c": g.temperature_c, "power_w": g.power_w} for g in event.gpus],
                "gpu_status": event.gpu_status}
    return None


class _ErrorLogHandler(logging.Handler):
    """Copies ERROR log records (from any thread) into the show log as `log_error` lines."""

    def __init__(self, put: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(logging.ERROR)
        self._put = put

    def emit(self, record: logging.LogRecord) -> None:
        """Queue one line; never raises."""
        try:
            entry: dict[str, Any] = {"kind": "log_error", "logger": record.name, "level": record.levelname,
                                     "message": record.getMessage()}
            if record.exc_info and record.exc_info[1] is not None:
                entry["exception"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            self._put(entry)
        except Exception:
            self.handleError(record)


class ShowLog:
    """The "showlog" module: a bus listener that hands records to a writer thread, so the loop never waits on disk."""

    name = "showlog"

    def __init__(self, log_dir: Path, secrets: Iterable[str] = (), sample_every_s: float = 5.0,
                 header: dict[str, Any] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.secrets = [s for s in secrets if s]
        self.sample_every_s = sample_every_s
        self.header = dict(header or {})
        self.path: Path | None = None
        self.writer: JsonlWriter | None = None
        self._engine: EngineApi | None = None
        self._errors = _ErrorLogHandler(self._put)
        self._started_mono = 0.0
        self._last_sample = -1e9

    async def start(self, engine: EngineApi) -> None:
        """Open a new show file (its writer thread), write the header and follow every event."""
        if self.writer is not None:
            return
        self._engine = engine
        self.path = new_show_path(self.log_dir)
        self.writer = JsonlWriter(self.path, self.secrets)
        self.writer.start()
        self._started_mono = time.monotonic()
        self._last_sample = -1e9
        modules = {name: [str(state), reason] for name, (state, reason) in engine.module_states.items()}
        self._put({"kind": "show_started", "version": __version__, "pid": os.getpid(), "path": str(self.path),
                   "modules": modules, **self.header})
        engine.bus.add_listener(self.on_event)
        logging.getLogger().addHandler(self._errors)
        engine.set_module_state(self.name, ModuleState.ON, str(self.path))

    def on_event(self, event: Event) -> None:
        """Bus listener (on the loop): turn the event into a record and queue it; telemetry is thinned out."""
        if isinstance(event, SystemStatsSampled):
            if event.ts - self._last_sample < self.sample_every_s:
                return
            self._last_sample = event.ts
        record = event_record(event)
        if record is not None:
            self._put(record, event.ts)

    def _put(self, record: dict[str, Any], mono: float | None = None) -> None:
        """Stamp a record with wall-clock and show time and hand it to the writer (thread-safe)."""
        writer = self.writer
        if writer is None:
            return
        at = time.monotonic() if mono is None else mono
        wall = time.time() - (time.monotonic() - at)
        writer.put({"ts": dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds"),
                    "t": round(at - self._started_mono, 3), **record})

    async def stop(self) -> None:
        """Write the footer, stop following events and let the writer thread drain and close the file."""
        writer, engine = self.writer, self._engine
        if writer is None:
            return
        logging.getLogger().removeHandler(self._errors)
        if engine is not None:
            engine.bus.remove_listener(self.on_event)
        self._put({"kind": "show_ended", "duration_s": round(time.monotonic() - self._started_mono, 3),
                   "queued": writer.accepted + 1, "dropped": writer.dropped})
        self.writer = None
        await asyncio.to_thread(writer.close)


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret kitsu may hold: SecretStr config values, the env vars they name, and the VTS token file."""
    found: list[str] = []

    def walk(model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                walk(value)
            elif isinstance(value, str) and name.endswith("_env") and value:
                found.append(os.environ.get(value, ""))

    walk(settings)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        found.append(settings.vts.resolved_token_path(settings.paths.data_dir).read_text(encoding="utf-8").strip())
    return [value for value in found if len(value) >= 4]


def build_show_log(settings: Settings) -> ShowLog:
    """The show log of `kitsu run`, under <log root>/shows, with the config's secrets redacted."""
    enabled = {name: bool(getattr(settings, name).enabled) for name in ("obs", "vts", "vmc", "twitch")}
    header = {"persona": settings.persona, "integrations": enabled,
              "moderation": settings.moderation.enabled, "memory": settings.memory.enabled,
              "telemetry_interval_s": settings.telemetry.interval_s if settings.telemetry.enabled else None}
    return ShowLog(settings.paths.log_dir, configured_secrets(settings),
                   sample_every_s=max(5.0, settings.telemetry.interval_s), header=header)
