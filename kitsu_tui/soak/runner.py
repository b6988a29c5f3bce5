"""`kitsu soak`: the real pipeline, headless, for a duration or a number of turns, ending in summary.json."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.audio.base import AudioOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.bootstrap import build_engine
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.exits import ExitSignals
from kitsu_tui.headless import start_engine
from kitsu_tui.soak.driver import TurnDriver
from kitsu_tui.soak.faultrig import FaultRig
from kitsu_tui.soak.faults import FaultInjector
from kitsu_tui.soak.faultspec import KINDS, FaultSpecError, parse_faults
from kitsu_tui.soak.mic import ScriptedMic
from kitsu_tui.soak.options import Plan, SoakOptions, build_plan, planned_duration_s
from kitsu_tui.soak.plan import (
    PlanError,
)
from kitsu_tui.soak.progress import ProgressBar
from kitsu_tui.soak.session import SessionWriter
from kitsu_tui.soak.stability import stability
from kitsu_tui.soak.summary import SoakTally, build_summary, write_summary
from kitsu_tui.telemetry.system import current_rss_mb, ensure_telemetry, peak_rss_mb

log = logging.getLogger(__name__)


class SoakRun:
    """One soak: engine up, items fed until a limit or Ctrl-C, then the summary written."""

    def __init__(self, settings: Settings, options: SoakOptions, plan: Plan, err: TextIO,
                 backends: Backends | None = None, output: AudioOutput | None = None,
                 rig: FaultRig | None = None) -> None:
        self.settings, self.options, self.plan, self.err = settings, options, plan, err
        self.backends, self.output, self.rig = backends, output, rig
        self.injector: FaultInjector | None = None
        self._faulting: asyncio.Task[None] | None = None
        self._driver: TurnDriver | None = None
        self.tally = SoakTally(input_problems=list(plan.problems))
        self.stopped_by = "plan finished"
        self.interrupted = False
        self.crashed = ""
        self.started = time.monotonic()
        self._body: asyncio.Task[Any] | None = None
        self._failures: list[str] = []
        self._writer: SessionWriter | None = None
        self.load_s: float | None = None
        self.started_feeding: float | None = None

    def _on_signal(self, signum: int) -> None:
        """Ctrl-C or SIGTERM: stop feeding, stop the engine (bounded) and write the summary so far."""
        self.interrupted = True
        self.stopped_by = f"interrupted ({signal.Signals(signum).name})"
        if self._body is not None:
            self._body.cancel()

    async def run(self) -> int:
        """Run to the end (or a signal) and return the exit code; the summary is written in every case."""
        with ExitSignals(self._on_signal) as signals:  # held through the stop: a second Ctrl-C cannot cut it short
            code = await self._run()
        return signals.code(code)

    async def _run(self) -> int:
        """Build the engine, feed it, stop it and write the summary."""
        self.tally.rss_start_mb = current_rss_mb()
        progress = ProgressBar(self.err, self.options.max_turns, self._duration_s(), enabled=self.options.progress)
        mic = ScriptedMic(self.settings.audio.frame_ms) if self.plan.has_voice else None
        if self.rig is not None:
            self.settings = await asyncio.to_thread(self.rig.prepare, self.settings)
        parts = build_engine(self.settings, inputs=[mic] if mic else [], backends=self.backends, output=self.output)
        engine = parts.engine
        if self.rig is not None:
            try:
                self.injector = self.rig.attach(engine, self.settings)
            except FaultSpecError as exc:
                self.err.write(f"kitsu: {exc}\n")
                await asyncio.to_thread(self.rig.close)
                return 2
        for warning in parts.warnings:
            if "play_audio" not in warning:  # the null sink is the point of a soak, not news
                self.err.write(f"kitsu: {warning}\n")
        driver = self._driver = TurnDriver(engine, self.tally, mic, self.options.turn_timeout_s)
        writer = self._writer = (SessionWriter(self.options.record_session, engine.persona.name)
                                 if self.options.record_session else None)
        try:
            self._body = asyncio.create_task(self._feed_all(engine, driver, progress))
            try:
                await self._body
            except asyncio.CancelledError:
                if not self.interrupted:
                    raise
            except Exception as exc:  # the summary so far is still worth having
                log.exception("soak stopped by an error")
                self.crashed = f"{type(exc).__name__}: {exc}"
                self.stopped_by = f"error: {self.crashed}"
                self.err.write(f"kitsu: soak stopped by an error: {self.crashed}\n")
        finally:
            progress.finish()
            await self._stop_faults()
            await engine.stop()
            if self.rig is not None:
                await asyncio.to_thread(self.rig.close)
            if writer is not None:
                writer.close()
            self.tally.rss_end_mb = current_rss_mb()
            self.tally.rss_peak_mb = max(self.tally.rss_peak_mb, peak_rss_mb(), self.tally.rss_end_mb)
            summary = build_summary(self.tally, self._meta(engine))
            if self.options.output is not None:
                write_summary(self.options.output, summary)
        return self._exit_code(summary)

    async def _feed_all(self, engine: Engine, driver: TurnDriver, progress: ProgressBar) -> None:
        """Start the engine, then feed items until the plan ends or a limit is reached."""
        self._failures = await start_engine(engine, self.err)
        if self._failures:
            self.stopped_by = "models failed to load"
            return
        await ensure_telemetry(engine)
        self.load_s = round(time.monotonic() - self.started, 2)
        self.started_feeding = driver.t0 = time.monotonic()
        if self.injector is not None:
            self._faulting = asyncio.create_task(self.injector.run(), name="kitsu-soak-faults")
        progress.started = self.started_feeding
        progress.update(0, 0, None, current_rss_mb())
        for item in self.plan.items:
            limit = self._limit_reached()
            if limit:
                self.stopped_by = limit
                return
            produced = await driver.feed(item)
            if self._writer is not None:
                self._writer.add(item, driver.heard(produced))
            progress.update(self.tally.attempted, self.tally.error_total(), driver.last_first_audio_ms,
                            driver.latest_rss_mb or current_rss_mb())
        self.stopped_by = self._limit_reached() or "plan finished"

    async def _stop_faults(self) -> None:
        """End the fault schedule; every fault still on is mended before the engine stops."""
        task, self._faulting = self._faulting, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _duration_s(self) -> float | None:
        return self.options.duration_minutes * 60 if self.options.duration_minutes else None

    def _limit_reached(self) -> str:
        """'max turns' / 'duration' once a limit is hit, else ''."""
        if self.options.max_turns and self.tally.attempted >= self.options.max_turns:
            return "max turns"
        duration = self._duration_s()
        if duration and self.started_feeding and time.monotonic() - self.started_feeding >= duration:
            return "duration"
        return ""

    def _meta(self, engine: Engine) -> dict[str, Any]:
        """Run metadata: when, how long, why it stopped, inputs and model load states."""
        o = self.options
        return {
            "started": dt.datetime.fromtimestamp(time.time() - (time.monotonic() - self.started), dt.UTC)
            .isoformat(timespec="seconds"),
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "feeding_s": round(time.monotonic() - self.started_feeding, 1) if self.started_feeding else 0.0,
            "load_s": self.load_s,
            "complete": not (self.interrupted or self._failures or self.crashed),
            "stopped_by": self.stopped_by,
            "source": self.plan.source,
            "options": {"max_turns": o.max_turns, "duration_minutes": o.duration_minutes,
                        "max_error_rate": o.max_error_rate, "seed": o.seed, "turn_timeout_s": o.turn_timeout_s},
            "persona": engine.persona.name,
            "modules": {name: {"state": str(state), "reason": reason}
                        for name, (state, reason) in sorted(engine.module_states.items())},
            "model_failures": self._failures,
            **self._long_run_figures(),
        }

    def _long_run_figures(self) -> dict[str, Any]:
        """The `faults` section (when injecting) and the `stability` section: drift from the start to the end."""
        feeding = time.monotonic() - self.started_feeding if self.started_feeding else 0.0
        out: dict[str, Any] = {}
        windows: list[tuple[float, float]] = []
        if self.injector is not None:
            out["faults"] = {"spec": self.options.faults, **self.injector.finish()}
            windows = self.injector.fault_windows()
        out["stability"] = stability(self.tally.records, self.tally.rss_series, feeding, windows)
        out["rss_timeline"] = [list(sample) for sample in self.tally.rss_series]
        return out

    def _exit_code(self, summary: dict[str, Any]) -> int:
        """130 after Ctrl-C (143 after SIGTERM), 2 when a model failed, 1 when errors exceed --max-error-rate, else 0."""
        if self.interrupted:
            return 130  # replaced by the signal's own code in run()
        if self._failures:
            return 2
        if self.crashed:
            return 1
        faults = summary.get("faults")
        if faults is not None:  # under injected faults only errors no fault explains fail the soak
            if faults["errors_outside_faults"]:
                self.err.write(f"kitsu: soak failed: {faults['errors_outside_faults']} errors outside every "
                               f"injected fault: {faults['unexplained_errors'][:3]}\n")
                return 1
            return 0
        errors = summary["errors"]
        if errors["total"] and errors["rate"] > self.options.max_error_rate:
            self.err.write(f"kitsu: soak failed: {errors['total']} errors in {self.tally.attempted} turns "
                           f"(rate {errors['rate']:.1%} > --max-error-rate {self.options.max_error_rate:.1%}): "
                           f"{errors['by_kind']}\n")
            return 1
        return 0


async def run_soak(settings: Settings, options: SoakOptions, err: TextIO = sys.stderr,
                   backends: Backends | None = None, output: AudioOutput | None = None) -> int:
    """Run a soak and return its exit code; bad inputs print one `kitsu:` line and return 2."""
    try:
        plan = build_plan(options)
    except PlanError as exc:
        err.write(f"kitsu: {exc}\n")
        return 2
    for problem in plan.problems:
        err.write(f"kitsu: {problem}\n")
    try:
        off = {kind for kind, on in (("obs", settings.obs.enabled), ("vts", settings.vts.enabled)) if not on}
        faults = parse_faults(options.faults or "", planned_duration_s(options), frozenset(KINDS) - off)
    except FaultSpecError as exc:
        err.write(f"kitsu: {exc}\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="kitsu-soak-") as scratch:
        if not options.keep_memory:  # synthetic turns must not pollute the show's memory
            settings = settings.with_values({"memory.path": Path(scratch) / "memory.sqlite3"})
        rig = FaultRig(faults, (options.faults or "").strip().lower() != "default", Path(scratch)) if faults else None
        run = SoakRun(settings, options, plan, err, backends, output, rig)
        code = await run.run()
    if options.output is not None:
        err.write(f"kitsu: summary written to {options.output}\n")
    return code

