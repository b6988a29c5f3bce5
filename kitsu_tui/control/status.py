"""GET /status: one JSON snapshot of the show (persona, state, modules, scene, last line, memory, latency)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from kitsu_tui.control.capabilities import QueueAware, SceneAware, SummaryAware
from kitsu_tui.engine.api import EngineApi
from kitsu_tui.engine.events import Event, TurnCompleted, TurnStarted

log = logging.getLogger(__name__)


class Tally:
    """Bus listener counting the turns seen since the API started, and the one running now."""

    def __init__(self) -> None:
        self.answered = 0
        self.rejected = 0
        self.current_turn: int | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self.current_turn = event.turn_id
        elif isinstance(event, TurnCompleted):
            if event.record.get("rejected"):
                self.rejected += 1
            else:
                self.answered += 1
            if self.current_turn == event.turn_id:
                self.current_turn = None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency(records: Sequence[dict[str, Any]]) -> dict[str, object]:
    """The last turn's stage latencies and the first-audio p50/p95 over the records window."""
    first_audio = [float(r["latency_ms"]["first_audio"]) for r in records
                   if isinstance(r.get("latency_ms"), dict) and isinstance(r["latency_ms"].get("first_audio"), int | float)]
    last = records[-1].get("latency_ms", {}) if records else {}
    return {"last": last, "first_audio_p50_ms": percentile(first_audio, 50),
            "first_audio_p95_ms": percentile(first_audio, 95), "turns_measured": len(first_audio)}


def scene_of(engine: EngineApi) -> str | None:
    """The live scene the OBS module knows (None without one, or while it is disconnected)."""
    obs = engine.modules.get("obs")
    return obs.current_scene if isinstance(obs, SceneAware) else None


async def memory_of(engine: EngineApi) -> dict[str, object] | None:
    """The memory's newest summary and the context restored from earlier sessions (None without memory)."""
    memory = engine.memory
    if memory is None:
        return None
    summary: str | None = None
    restored: list[str] = []
    try:
        if isinstance(memory, SummaryAware):
            summary = await memory.current_summary()
        restored = await memory.restored_context()
    except Exception as exc:  # a closing or broken database must not break /status
        log.debug("control API: memory unreadable for /status: %s", exc)
    return {"current_summary": summary, "restore_context": restored}


async def build_status(engine: EngineApi, console: str, tally: Tally) -> dict[str, object]:
    """The /status document."""
    persona = engine.persona
    records = list(engine.records)
    spoken = next((str(r.get("spoken", "")) for r in reversed(records) if r.get("spoken")), "")
    return {
        "persona": persona.name,
        "display_name": persona.shown_name,
        "state": engine.state.value,
        "muted": engine.muted,
        "paused": engine.paused,
        "panicked": engine.panicked,
        "family_friendly": engine.family_friendly,
        "speaking": engine.speaking,
        "has_microphone": engine.has_microphone,
        "console": console,
        "modules": {name: {"state": state.value, "reason": reason}
                    for name, (state, reason) in sorted(engine.module_states.items())},
        "scene": scene_of(engine),
        "last_spoken": spoken,
        "memory": await memory_of(engine),
        "latency": latency(records),
        "queue": {"busy": engine.busy if isinstance(engine, QueueAware) else None,
                  "current_turn": tally.current_turn},
        "turns": {"answered": tally.answered, "rejected": tally.rejected, "in_window": len(records),
                  "last_id": int(records[-1].get("turn", 0)) if records else 0},
    }
