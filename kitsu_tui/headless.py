"""`kitsu run --headless`: feed WAV files and chat lines through the engine, one JSON line per turn."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.audio.base import AudioInput
from kitsu_tui.audio.wav import AudioFileError
from kitsu_tui.bootstrap import attach_modules, build_engine
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, ModuleState, Source, TurnCompleted

log = logging.getLogger(__name__)


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
        quiet_s = self.engine.settings.vad.end_silence_ms / 1000 + 0.3
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
    settler: VoiceSettler | None = None
    feeder: WavFileInput | None = None
    if inputs:
        try:
            feeder = WavFileInput(inputs, realtime=realtime, frame_ms=settings.audio.frame_ms, gap_s=0.5,
                                  trailing_silence_s=0.5, lead_in_s=0.3, max_wait_s=120.0)
        except (AudioFileError, OSError) as exc:
            err.write(f"kitsu: {exc}\n")
            return 2
        sources.append(feeder)
    parts = build_engine(settings, inputs=sources)
    engine = parts.engine
    for warning in parts.warnings:
        err.write(f"kitsu: {warning}\n")
    failures: list[str] = []
    engine.bus.add_listener(lambda e: _print_record(out, e.record) if isinstance(e, TurnCompleted) else None)
    if feeder is not None:
        settler = VoiceSettler(engine)
        feeder.wait_before_next = settler.wait
    try:
        failures = await start_engine(engine, err, show_log=True)
        if feeder is not None:
            await engine.wait_inputs_done()
            if settler is not None:
                await settler.wait()
        for text in chats:
            if not engine.submit_text(text, Source.CHAT, "chat"):
                continue
            await engine.wait_idle()
    finally:
        await engine.stop()
    errors = [r for r in engine.records if r.get("error")]
    for record in errors:
        err.write(f"kitsu: turn {record['turn']} failed: {record['error']}\n")
    return 1 if failures or errors else 0
