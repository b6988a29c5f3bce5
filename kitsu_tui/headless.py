"""`kitsu run --headless`: feed WAV files and chat lines through the engine, one JSON line per turn."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from kitsu_tui.audio.base import AudioInput
from kitsu_tui.audio.wav import AudioFileError
from kitsu_tui.bootstrap import attach_modules, build_engine, open_microphone
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, ModuleState, Source, TurnCompleted
from kitsu_tui.exits import ExitSignals
from kitsu_tui.showlock import ShowLock, ShowRunning

if TYPE_CHECKING:
    from kitsu_tui.audio.inputs import WavFileInput
    from kitsu_tui.control.server import ControlServer

log = logging.getLogger(__name__)
T = TypeVar("T")


class VoiceSettler:
    """Tells when everything a fed file caused (speech, ASR, the reply) has finished."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.counts: Counter[str] = Counter()
        self.last_activity = time.monotonic()
        engine.bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.kind in ("SpeechStarted", "SpeechEnded", "TranscriptFinal", "TurnCompleted"):
            self.counts[event.kind] += 1
            self.last_activity = time.monotonic()

    def settled(self) -> bool:
        """No utterance in progress, no transcript pending, no turn running or waiting."""
        c = self.counts
        return (
            c["SpeechStarted"] == c["SpeechEnded"] == c["TranscriptFinal"]
            and not self.engine.busy
        )

    async def wait(self) -> None:
        """Wait until the last file's consequences are over (the WAV input keeps feeding silence meanwhile)."""
        vad = self.engine.settings.vad
        quiet_s = (vad.end_silence_ms + vad.unfinished_extra_ms) / 1000 + 0.3  # the longest endpointing wait
        started = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if self.settled() and now - max(started, self.last_activity) >= quiet_s:
                return


async def start_engine(engine: Engine, err: TextIO, show_log: bool = False) -> list[str]:
    """Open memory (and the show log), start the engine (models loaded), and report each core model that failed."""
    failures: list[str] = []
    await attach_modules(engine, engine.settings, show_log=show_log)
    await engine.start()
    for name in ("vad", "asr", "llm", "tts"):
        state, reason = engine.module_states.get(name, (ModuleState.OFF, ""))
        if state == ModuleState.ERROR:
            failures.append(f"{name}: {reason}")
            err.write(f"kitsu: {name} unavailable: {reason}\n")
    return failures


def _print_record(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


async def run_headless(settings: Settings, inputs: list[Path], chats: list[str], realtime: bool = True,
                       out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run the given turns and print their records; returns the process exit code."""
    from kitsu_tui.audio.inputs import WavFileInput

    sources: list[AudioInput] = []
    feeder: WavFileInput | None = None
    if inputs:
        try:
            feeder = WavFileInput(inputs, realtime=realtime, frame_ms=settings.audio.frame_ms, gap_s=0.5,
                                  trailing_silence_s=0.5, lead_in_s=0.3, max_wait_s=120.0)
        except (AudioFileError, OSError) as exc:
            err.write(f"kitsu: {exc}\n")
            return 2
        sources.append(feeder)
    serving = not inputs and not chats  # nothing to feed: the show runs until /stop, Ctrl-C or SIGTERM
    lock = ShowLock(settings.paths.log_dir)
    if serving:  # a live show owns the microphone and speakers: one at a time
        try:
            lock.acquire()
        except ShowRunning as exc:
            err.write(f"kitsu: {exc.advice()}\n")
            return 1
        mic, mic_reason = open_microphone(settings)
        if mic is not None:
            sources.append(mic)
        elif mic_reason:
            err.write(f"kitsu: {mic_reason}; voice is off, chat and the control API still work\n")
    try:
        return await _run_show(settings, sources, feeder, chats, serving, lock, out, err)
    finally:
        lock.release()


async def _run_show(settings: Settings, sources: list[AudioInput], feeder: WavFileInput | None, chats: list[str],
                    serving: bool, lock: ShowLock, out: TextIO, err: TextIO) -> int:
    """Build and start the engine, feed it or serve it, and stop it; the exit code.

    SIGINT or SIGTERM stops it (within 5 s, the show log closed): 130 after SIGINT; after SIGTERM 0 for a
    serving show (the way to end it, like `kitsu stop`) and 143 for a run whose turns were cut short.
    """
    settler: VoiceSettler | None = None
    parts = build_engine(settings, inputs=sources)
    engine = parts.engine
    for warning in parts.warnings:
        err.write(f"kitsu: {warning}\n")
    failures: list[str] = []
    engine.bus.add_listener(lambda e: _print_record(out, e.record) if isinstance(e, TurnCompleted) else None)
    if feeder is not None:
        settler = VoiceSettler(engine)
        feeder.wait_before_next = settler.wait
    stop = asyncio.Event()
    server: ControlServer | None = None
    problem = ""
    with ExitSignals(lambda _signum: stop.set()) as signals:
        try:
            failures = await _until_stopped(start_engine(engine, err, show_log=True), stop) or []
            if not stop.is_set():
                server, problem = await _start_api(engine, settings, stop.set, serving)
            if stop.is_set():
                pass  # a signal while loading: straight to the stop
            elif serving and server is None:
                if problem:
                    err.write(f"kitsu: {problem}\n")
                    failures.append(problem)
            elif serving and server is not None:
                lock.describe(server.url)
                err.write(f"kitsu: control API at {server.url}; the show runs until `kitsu stop` or Ctrl-C\n")
                err.flush()
                await stop.wait()
            else:
                await _until_stopped(_feed(engine, feeder, settler, chats), stop)
        finally:
            if server is not None:
                await server.close()
            await engine.stop()
    if signals.received is not None:
        return signals.code(term=0 if serving else None)
    errors = [r for r in engine.records if r.get("error")]
    for record in errors:
        err.write(f"kitsu: turn {record['turn']} failed: {record['error']}\n")
    return 1 if failures or errors else 0


async def _feed(engine: Engine, feeder: WavFileInput | None, settler: VoiceSettler | None, chats: list[str]) -> None:
    """Play the --input files, then run the --chat lines one at a time."""
    if feeder is not None:
        await engine.wait_inputs_done()
        if settler is not None:
            await settler.wait()
    for text in chats:
        if not engine.submit_text(text, Source.CHAT, "chat"):
            continue
        await engine.wait_idle()


async def _start_api(engine: Engine, settings: Settings, on_stop: Callable[[], None],
                     serving: bool) -> tuple[ControlServer | None, str]:
    """The control API for this run ([api] enabled), and the line saying why not when a serving run cannot have it.

    With turns to feed the API is a bonus: a taken port is only a notice (and a line in the show log).
    """
    from kitsu_tui.control.server import ControlApiError, open_control_api, start_control_api

    console = "headless"
    if not serving:
        return await start_control_api(engine, settings, on_stop, lambda: console), ""
    if not settings.api.enabled:
        return None, ""
    try:
        return await open_control_api(engine, settings, on_stop, lambda: console), ""
    except ControlApiError as exc:
        return None, str(exc)


async def _until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """Run `work` to its end (its result), or until a signal or the control API's /stop (None; the rest is skipped)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if task.done() and not task.cancelled():
        return task.result()  # what the work raised goes on up
    return None
