"""The held-out voice run of `kitsu bench --voices espeak`: each endpointing rule on its own engine, scored side by side."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.audio.base import Audio
from kitsu_tui.bootstrap import build_engine
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, TurnStarted
from kitsu_tui.headless import start_engine
from kitsu_tui.soak.driver import TurnDriver
from kitsu_tui.soak.mic import ScriptedMic
from kitsu_tui.soak.stats import describe
from kitsu_tui.soak.summary import SoakTally
from kitsu_tui.soak.turntaking import long_wait_ms, score
from kitsu_tui.soak.voiceset import HeldOutItem, VoicesetError, build_voiceset
from kitsu_tui.telemetry.system import current_rss_mb

ENDPOINTING_MODES = ("transcript", "sentence", "smart-turn")
"""Every endpointing rule `[vad] endpointing` offers; the bench compares them on the same clips."""
TURN_MODEL_SAMPLES = 12
"""Clips the turn model is timed on after a smart-turn run."""


class TimedMic(ScriptedMic):
    """The scripted mic, remembering when the last clip's final sample was spoken (monotonic seconds)."""

    spoken_until = 0.0

    async def speak(self, clip: Audio) -> float:
        """Feed a clip in real time; the end of its last sample (frame padding taken off) is kept."""
        last = await super().speak(clip)
        self.spoken_until = last - (-clip.size % self.frame_samples) / self.sample_rate
        return last


def held_out_set(voices: str, err: TextIO) -> list[HeldOutItem]:
    """The espeak-ng held-out set when asked for; a missing espeak-ng is one line and an empty set."""
    if voices != "espeak":
        return []
    try:
        return build_voiceset()
    except VoicesetError as exc:
        err.write(f"kitsu: {exc}; the bench goes on without the held-out voices\n")
        return []


def report_turns(err: TextIO, source: str, index: int, total: int, produced: list[dict[str, Any]],
                 label: str = "") -> None:
    """One progress line per turn on stderr (each voice turn of a held-out item)."""
    turns = [r for r in produced if r.get("source") == source]
    name = f"{source} {index}/{total}" + (f" {label}" if label else "")
    if not turns:
        err.write(f"bench: {name}: no turn (nothing heard)\n")
    for turn in turns if label else turns[:1]:
        stages = " ".join(f"{k}={v:.0f}" for k, v in turn.get("latency_ms", {}).items())
        why = f" rejected: {turn['rejected']}" if turn.get("rejected") else f" error: {turn['error']}" if turn.get("error") else ""
        rule = f" [{turn['endpoint_rule']}]" if turn.get("endpoint_rule") else ""
        err.write(f"bench: {name} {turn.get('transcript', '')!r} -> {stages}{rule}{why}\n")
    err.flush()


async def feed_held_out(driver: TurnDriver, mic: TimedMic, engine: Engine, items: Sequence[HeldOutItem],
                        err: TextIO, tag: str = "") -> dict[str, Any]:
    """Speak each held-out item, tag its turn records with when their audio began against the speech's end, score."""
    arrived: dict[int, float] = {}

    def on_event(event: Event) -> None:
        if isinstance(event, TurnStarted):
            arrived[event.turn_id] = event.arrived

    engine.bus.add_listener(on_event)
    try:
        for index, item in enumerate(items):
            produced = await driver.feed(item.voice_item())
            for record in produced:
                record["heldout"] = True
                if tag:
                    record["endpointing_mode"] = tag
                first = (record.get("latency_ms") or {}).get("first_audio")
                start = arrived.get(int(record.get("turn", 0)))
                if first is not None and start is not None:
                    record["first_audio_vs_end_ms"] = round((start + first / 1000 - mic.spoken_until) * 1000, 1)
            report_turns(err, "voice", index + 1, len(items), produced, f"{tag} {item.label}".strip())
    finally:
        engine.bus.remove_listener(on_event)
    vad = engine.settings.vad
    return score(driver.tally.records, [item.metadata() for item in items],
                 long_wait_ms(vad.end_silence_ms, vad.unfinished_extra_ms, vad.unsure_extra_ms))


async def time_turn_model(engine: Engine, items: Sequence[HeldOutItem]) -> dict[str, Any]:
    """The loaded turn or sentence model's inference time on up to TURN_MODEL_SAMPLES clips or their texts
    (its own thread, as in a show)."""
    turn, sentence = engine.backends.turn, engine.backends.sentence
    spent = []
    for item in items[:TURN_MODEL_SAMPLES] if turn is not None or sentence is not None else ():
        started = time.perf_counter()
        if turn is not None:
            await engine.workers.vad.call(turn.complete_prob, item.audio)
        elif sentence is not None:
            await engine.workers.vad.call(sentence.end_prob, item.first)
        spent.append((time.perf_counter() - started) * 1000)
    return describe(spent) if spent else {}


async def run_held_out(settings: Settings, mode: str, items: Sequence[HeldOutItem], scratch: Path,
                       err: TextIO) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The held-out set on a fresh engine endpointing with `mode` (its own memory DB): its score and turn records."""
    settings = settings.with_values({"vad.endpointing": mode, "memory.path": scratch / f"memory-{mode}.sqlite3"})
    mic = TimedMic(settings.audio.frame_ms)
    engine = build_engine(settings, inputs=[mic]).engine
    tally = SoakTally(rss_start_mb=current_rss_mb())
    driver = TurnDriver(engine, tally, mic)
    try:
        if await start_engine(engine, err):
            return {"mode": mode, "error": "the engine did not start"}, []
        models = {"smart-turn": ("Smart Turn", engine.backends.turn), "sentence": ("sentence", engine.backends.sentence)}
        if mode in models and models[mode][1] is None:
            return {"mode": mode, "error": f"the {models[mode][0]} model did not load"}, []
        result = await feed_held_out(driver, mic, engine, items, err, tag=mode)
        result["mode"] = mode
        if timed := await time_turn_model(engine, items):
            result["turn_model_ms"] = timed
    finally:
        await engine.stop()
    return result, tally.records


async def compare_endpointing(settings: Settings, modes: Sequence[str], items: Sequence[HeldOutItem], scratch: Path,
                              err: TextIO) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Each endpointing mode's held-out score, run one after another on the same clips, and all their records."""
    scores: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for mode in modes:
        result, produced = await run_held_out(settings, mode, items, scratch, err)
        scores[mode] = result
        records.extend(produced)
    return scores, records


def format_comparison(scores: dict[str, dict[str, Any]]) -> list[str]:
    """One line per endpointing mode: answer latency, cut-offs, false waits (and the turn model's cost)."""
    def stat(figures: dict[str, Any]) -> str:
        return f"p50 {figures['p50']:.0f} / p95 {figures['p95']:.0f} ms" if figures.get("count") else "-"

    lines = []
    for mode, result in scores.items():
        if "error" in result:
            lines.append(f"endpointing {mode}: not measured ({result['error']})")
            continue
        model = f", model {stat(result['turn_model_ms'])}" if result.get("turn_model_ms") else ""
        lines.append(f"endpointing {mode}: answer {stat(result['answer_ms'])}, endpointing "
                     f"{stat(result['endpointing'])}, cut-offs {result['cut_offs']}/{result['paused_answered']}, "
                     f"false waits {result['false_waits']}/{result['complete_turns']}{model}")
    return lines
