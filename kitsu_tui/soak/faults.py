"""The fault injector of `kitsu soak --faults`: runs the schedule on the real show and writes down, per fault,
when the show noticed it, when it recovered and what the viewer heard meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kitsu_tui.engine.events import (
    Event,
    ModuleState,
    ModuleStateChanged,
    Notice,
    PlaybackFinished,
    StageError,
    TurnCompleted,
)
from kitsu_tui.soak.faultspec import KINDS, Fault
from kitsu_tui.soak.faulttargets import FaultTarget

log = logging.getLogger(__name__)

WATCHES: dict[str, tuple[str, ...]] = {
    "llm": ("llm",), "tts": ("tts",), "output": ("speaker", "audio", "output", "playback"),
    "db-lock": ("memory",), "disk-full": ("showlog", "log", "disk"), "obs": ("obs",), "vts": ("avatar", "vts"),
}
"""Stage/module names (or log words) that show a fault kind was noticed; llm-* kinds watch 'llm'."""

EXTEND_MAX_S = 30.0
"""A fault nothing has met yet lasts up to this much longer, so each one is exercised even on a slow machine."""
END_ATTEMPTS = 5
"""Tries to mend a fault before the soak goes on with it recorded as not mended."""
GRACE_S = 30.0
"""After a fault recovers, errors this much later still count as its consequence."""
HEARD_KEPT = 12


def watch_words(kind: str) -> tuple[str, ...]:
    """The names that reveal a fault of this kind."""
    return WATCHES["llm" if kind.startswith("llm-") else kind]


@dataclass
class FaultLog:
    """One injected fault and what the show did about it (seconds since feeding started)."""

    fault: Fault
    started_s: float | None = None
    ended_s: float | None = None
    noticed_s: float | None = None
    noticed_by: str = ""
    recovered_s: float | None = None
    recovered_by: str = ""
    heard: list[str] = field(default_factory=list)
    error_turns: int = 0
    skipped: str = ""
    problems: list[str] = field(default_factory=list)
    """What went wrong with the injection itself (not with the show)."""

    def window(self) -> tuple[float, float] | None:
        """The span whose errors this fault explains (None when it never ran)."""
        if self.started_s is None:
            return None
        end = self.recovered_s or self.ended_s or self.started_s + self.fault.duration_s
        return self.started_s, end + GRACE_S

    def describe(self) -> dict[str, Any]:
        """The summary entry."""
        def rel(value: float | None) -> float | None:
            return None if value is None or self.started_s is None else round(value - self.started_s, 2)

        return {
            "kind": self.fault.kind, "what": KINDS[self.fault.kind], "planned_at_s": self.fault.at_s,
            "duration_s": self.fault.duration_s, "injected_at_s": _round(self.started_s),
            "ended_at_s": _round(self.ended_s), "noticed_after_s": rel(self.noticed_s), "noticed_by": self.noticed_by,
            "recovered_after_s": rel(self.recovered_s), "recovered_by": self.recovered_by,
            "recovered_after_end_s": (round(self.recovered_s - self.ended_s, 2)
                                      if self.recovered_s is not None and self.ended_s is not None else None),
            "heard_meanwhile": self.heard, "error_turns": self.error_turns, "skipped": self.skipped,
            "injection_problems": self.problems,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class FaultInjector:
    """Runs the faults at their times (begin, then end), and watches the bus and the log for their effects."""

    def __init__(self, faults: list[Fault], targets: dict[str, FaultTarget], unavailable: dict[str, str]) -> None:
        self.logs = [FaultLog(f, skipped=unavailable.get(f.kind, "")) for f in faults]
        self.targets = targets
        self.t0 = time.monotonic()
        self.turn_errors: list[tuple[float, int, str]] = []
        """(time, turn id, error) of every turn that ended in error."""
        self.stage_errors: list[tuple[float, int, str]] = []
        """(time, turn id, stage: message) of every stage error (some do not fail their turn)."""
        self._handler = _LogWatch(self)

    def now(self) -> float:
        """Seconds since feeding started."""
        return time.monotonic() - self.t0

    async def run(self) -> None:
        """Play the schedule; cancelled at the end of the soak (every begun fault is ended then)."""
        logging.getLogger().addHandler(self._handler)
        self.t0 = time.monotonic()
        steps = sorted([(entry.fault.at_s, 1, i) for i, entry in enumerate(self.logs) if not entry.skipped]
                       + [(entry.fault.until_s, 0, i) for i, entry in enumerate(self.logs) if not entry.skipped])
        watcher = asyncio.create_task(self._watch_log_files(), name="kitsu-soak-log-watch")
        try:
            for at, begin, index in steps:
                await asyncio.sleep(max(0.0, at - self.now()))
                await (self._begin(index) if begin else self._end(index))
            await watcher  # keeps watching for recoveries until the soak ends (cancels this task)
        finally:
            watcher.cancel()
            for index, entry in enumerate(self.logs):
                if entry.started_s is not None and entry.ended_s is None:
                    await self._end(index)
            logging.getLogger().removeHandler(self._handler)

    async def _begin(self, index: int) -> None:
        entry = self.logs[index]
        try:
            await asyncio.to_thread(self.targets[entry.fault.kind].begin)
        except Exception as exc:  # a fault that cannot be injected is reported, not fatal (and undone, in case)
            entry.skipped = f"could not inject: {type(exc).__name__}: {exc}"
            log.warning("fault %s could not be injected: %r", entry.fault.kind, exc)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.targets[entry.fault.kind].end)
            return
        entry.started_s = self.now()
        log.warning("soak fault injected: %s (%s) for %.0f s", entry.fault.kind, KINDS[entry.fault.kind],
                    entry.fault.duration_s)

    async def _end(self, index: int) -> None:
        entry = self.logs[index]
        if entry.started_s is None or entry.ended_s is not None:
            return
        limit = entry.started_s + entry.fault.duration_s + EXTEND_MAX_S
        while entry.noticed_s is None and self.now() < limit:  # noqa: ASYNC110 - a bounded poll of the watchers
            await asyncio.sleep(0.2)  # no turn met the fault yet (a slow machine): it lasts until one does
        for attempt in range(END_ATTEMPTS):  # a fault that cannot be mended would poison the rest of the soak
            try:
                await asyncio.to_thread(self.targets[entry.fault.kind].end)
                break
            except Exception as exc:
                entry.problems.append(f"ending it failed (try {attempt + 1}): {type(exc).__name__}: {exc}")
                log.warning("soak fault %s could not be ended (try %d): %r", entry.fault.kind, attempt + 1, exc)
                await asyncio.sleep(0.5)
        entry.ended_s = self.now()
        log.warning("soak fault ended: %s", entry.fault.kind)

    def active(self) -> list[FaultLog]:
        """Faults begun and not yet recovered."""
        return [e for e in self.logs if e.started_s is not None and e.recovered_s is None]

    def on_event(self, event: Event) -> None:
        """Bus listener: notice, recovery, what was heard, and turns that failed."""
        now = self.now()
        if isinstance(event, TurnCompleted) and event.record.get("error"):
            self.turn_errors.append((now, event.turn_id, str(event.record.get("error"))))
        elif isinstance(event, StageError):
            self.stage_errors.append((now, event.turn_id, f"{event.stage}: {event.message}"))
        for entry in self.active():
            words = watch_words(entry.fault.kind)
            if isinstance(event, PlaybackFinished) and event.played_text and len(entry.heard) < HEARD_KEPT:
                entry.heard.append(event.played_text)
            if entry.noticed_s is None and (by := _noticed(event, words)):
                entry.noticed_s, entry.noticed_by = now, by
            if entry.ended_s is not None and (by := _recovered(event, entry.fault.kind, words)):
                entry.recovered_s, entry.recovered_by = now, by

    async def _watch_log_files(self) -> None:
        """A full disk shows in the log file handlers' state: `failing` set (noticed), then cleared (recovered);
        while such a fault is open a heartbeat line every 0.5 s makes the handler try the disk."""
        while True:
            await asyncio.sleep(0.5)
            open_faults = [e for e in self.active() if e.fault.kind == "disk-full"]
            if not open_faults:
                continue
            log.info("soak: log heartbeat while a disk fault is open")
            failing = [str(getattr(h, "failing", "")) for h in _file_handlers() if getattr(h, "failing", "")]
            for entry in open_faults:
                if entry.noticed_s is None and failing:
                    entry.noticed_s, entry.noticed_by = self.now(), f"log file handler: {failing[0][:80]}"
                elif entry.ended_s is not None and entry.noticed_s is not None and not failing:
                    entry.recovered_s, entry.recovered_by = self.now(), "log file written again"

    def on_log(self, name: str, level: int, message: str) -> None:
        """Log listener: a full disk is noticed (and its end seen) in the log, not on the bus."""
        if level < logging.WARNING or name == __name__:
            return
        lowered = f"{name} {message}".lower()
        for entry in self.active():
            if entry.fault.kind != "disk-full":
                continue
            if entry.noticed_s is None and any(w in lowered for w in ("cannot write", "no space", "dropp", "full")):
                entry.noticed_s, entry.noticed_by = self.now(), f"log: {message[:80]}"

    def finish(self) -> dict[str, Any]:
        """The summary's `faults` section: each fault, and the errors no fault explains."""
        for entry in self.logs:
            window = entry.window()
            if window is not None:
                entry.error_turns = sum(1 for t, _, _ in self.turn_errors if window[0] <= t <= window[1])
        windows = [w for e in self.logs if (w := e.window()) is not None]
        failed = {turn for _, turn, _ in self.turn_errors}
        errors = self.turn_errors + [e for e in self.stage_errors if e[1] not in failed]
        unexplained = [{"at_s": round(t, 1), "turn": turn, "error": error[:200]} for t, turn, error in sorted(errors)
                       if not any(a <= t <= b for a, b in windows)]
        injected = [e for e in self.logs if e.started_s is not None]
        return {
            "injected": len(injected),
            "noticed": sum(1 for e in injected if e.noticed_s is not None),
            "recovered": sum(1 for e in injected if e.recovered_s is not None),
            "skipped": sorted({f"{e.fault.kind}: {e.skipped}" for e in self.logs if e.skipped}),
            "errors_outside_faults": len(unexplained),
            "unexplained_errors": unexplained[:50],
            "timeline": [e.describe() for e in self.logs],
        }

    def fault_windows(self) -> list[tuple[float, float]]:
        """(start, end) of every fault that ran, for telling faulted turns from clean ones."""
        return [w for e in self.logs if (w := e.window()) is not None]


def _noticed(event: Event, words: tuple[str, ...]) -> str:
    """Why this event shows the fault was noticed ('' when it does not)."""
    if isinstance(event, StageError) and event.stage in words:
        return f"stage error: {event.stage}: {event.message[:80]}"
    if isinstance(event, ModuleStateChanged) and event.module in words and event.state == ModuleState.ERROR:
        return f"module {event.module}: {event.reason[:80]}"
    if isinstance(event, Notice) and event.level in ("warning", "error") and any(w in event.message.lower()
                                                                                 for w in words):
        return f"notice: {event.message[:80]}"
    return ""


def _recovered(event: Event, kind: str, words: tuple[str, ...]) -> str:
    """Why this event shows the show is over the fault ('' when it does not)."""
    if isinstance(event, ModuleStateChanged) and event.module in words and event.state == ModuleState.ON:
        return f"module {event.module} on"
    if kind in ("tts", "output") and isinstance(event, PlaybackFinished) and event.played_text:
        return "speech heard"
    if (kind.startswith("llm-") or kind == "db-lock") and isinstance(event, TurnCompleted) \
            and not event.record.get("error") and not event.record.get("rejected"):
        return "turn completed"
    return ""


def _file_handlers() -> list[logging.Handler]:
    """The root logger's handlers that write files (they carry a `failing` state)."""
    return [h for h in logging.getLogger().handlers if hasattr(h, "failing")]


class _LogWatch(logging.Handler):
    """Hands WARNING+ log records to the injector (a full disk shows only in the log)."""

    def __init__(self, injector: FaultInjector) -> None:
        super().__init__(logging.WARNING)
        self.injector = injector

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.injector.on_log(record.name, record.levelno, record.getMessage())
        except Exception:  # noqa: BLE001 - a watcher must never break logging
            return
