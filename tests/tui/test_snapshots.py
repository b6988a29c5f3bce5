"""Snapshot tests of the console: fake backends, injected events, fake GPU numbers, no clock, no blink."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from kitsu_tui.engine.events import (
    Event,
    GpuStat,
    LlmStarted,
    LlmToken,
    MicLevel,
    ModuleState,
    ModuleStateChanged,
    PipelineState,
    PipelineStateChanged,
    PlaybackFinished,
    PlaybackStarted,
    SentenceQueued,
    SentenceStateChanged,
    SentenceStatus,
    Source,
    SystemStatsSampled,
    TranscriptFinal,
    TranscriptPartial,
    TurnCompleted,
    TurnStarted,
)
from kitsu_tui.tui.app import KitsuApp
from kitsu_tui.tui.widgets.status import StatusBar

from .helpers import started

AppFactory = Callable[..., KitsuApp]
Snap = Callable[..., bool]

GPU_SAMPLE = SystemStatsSampled(
    cpu_percent=37.5, rss_mb=812.0,
    gpus=(GpuStat(0, "NVIDIA GeForce RTX 4070", 45.0, 3210.0, 12282.0, 61.0, 120.5, 30.0),),
)
NO_GPU_SAMPLE = SystemStatsSampled(cpu_percent=12.0, rss_mb=640.0, gpus=(),
                                   gpu_status="NVML: driver not loaded (no NVIDIA GPU)")


def fixed_modules() -> list[Event]:
    """Module rows with fixed reasons (load times would otherwise vary run to run)."""
    return [ModuleStateChanged(module=name, state=ModuleState.ON, reason="loaded") for name in ("asr", "llm", "tts")]


def past_turns() -> list[Event]:
    """Two completed turns, so the status bar has latencies and a sparkline."""
    out: list[Event] = []
    for turn_id, first in ((1, 900.0), (2, 650.0), (3, 780.0)):
        out.append(TurnCompleted(turn_id=turn_id, record={"latency_ms": {
            "asr_final": 180.0, "llm_first_token": 320.0, "tts_first_audio": 210.0, "first_audio": first}}))
    return out


def mid_turn() -> list[Event]:
    """A voice turn whose reply is streaming while the person starts talking again."""
    return [
        TranscriptFinal(turn_id=4, text="hey kitsu what's your favourite snack", asr_ms=210.0),
        TurnStarted(turn_id=4, source=Source.VOICE, text="hey kitsu what's your favourite snack"),
        PipelineStateChanged(state=PipelineState.THINKING),
        LlmStarted(turn_id=4),
        LlmToken(turn_id=4, text="Ooh, definitely fried tofu! Foxes and tofu go way back"),
        TranscriptPartial(text="and what about"),
        MicLevel(rms=0.06),
    ]


def tts_rows() -> list[Event]:
    """A reply with one sentence of each state."""
    texts = ["Ooh, definitely fried tofu!", "Foxes and tofu go way back.", "I could eat a whole plate.",
             "Chat, what's yours?", "That word is not allowed here."]
    out: list[Event] = [SentenceQueued(turn_id=4, index=i, text=t) for i, t in enumerate(texts)]
    out += [
        SentenceStateChanged(turn_id=4, index=0, status=SentenceStatus.DONE, duration_s=1.8),
        PlaybackStarted(turn_id=4, index=1, text=texts[1]),
        SentenceStateChanged(turn_id=4, index=1, status=SentenceStatus.PLAYING, duration_s=2.1),
        SentenceStateChanged(turn_id=4, index=2, status=SentenceStatus.SYNTHESIZING),
        SentenceStateChanged(turn_id=4, index=4, status=SentenceStatus.BLOCKED, reason="profanity"),
        PlaybackFinished(turn_id=4, index=0, played_text=texts[0]),
        PipelineStateChanged(state=PipelineState.SPEAKING),
    ]
    return out


def prepare(*batches: Callable[[], list[Event]], stats: SystemStatsSampled = GPU_SAMPLE,
            extra: Callable[[KitsuApp], Any] | None = None) -> Callable[[Pilot[int]], Any]:
    """A run_before that waits for the fake engine, then feeds fixed events straight to the main screen."""

    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, KitsuApp)
        await started(app, pilot)
        events: list[Event] = [*fixed_modules(), stats, *past_turns()]
        for batch in batches:
            events += batch()
        app.main.apply_events(events)
        if extra is not None:
            await extra(app)
        for _ in range(100):  # let every notification's toast be mounted before the picture
            await pilot.pause()
            if len(app.query("Toast")) >= len(app._notifications):
                break
        await pilot.pause()

    return run_before


class TestMainScreen:
    """The main screen in its everyday states."""

    def test_idle(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """Idle after three turns: modules on, GPU numbers, latencies and sparkline."""
        assert snap_compare(app_factory(), terminal_size=(120, 40), run_before=prepare())

    def test_mid_turn(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """A reply streaming while a new partial transcript comes in."""
        assert snap_compare(app_factory(), terminal_size=(120, 40), run_before=prepare(mid_turn))

    def test_tts_queue(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """Sentences done, playing (highlighted), synthesizing, queued and blocked."""
        assert snap_compare(app_factory(), terminal_size=(120, 40), run_before=prepare(mid_turn, tts_rows))

    def test_80x24(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """Everything still fits in a classic 80x24 terminal, with no NVIDIA GPU."""
        assert snap_compare(app_factory(), terminal_size=(80, 24),
                            run_before=prepare(mid_turn, tts_rows, stats=NO_GPU_SAMPLE))


async def _panic(app: KitsuApp) -> None:
    """Press panic through the app and wait for the engine's events to reach the status bar."""
    app.action_panic()
    for _ in range(200):
        if app.main.query_one(StatusBar).state == "panic":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the status bar never showed PANIC")


async def _module_error(app: KitsuApp) -> None:
    """An OBS module that could not connect (the screen raises the notification itself)."""
    app.main.apply_events([ModuleStateChanged(module="obs", state=ModuleState.ERROR,
                                              reason="connection refused on 127.0.0.1:4455")])


class TestAlerts:
    """Panic and failures must be impossible to miss."""

    def test_panic(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """Panic engaged: red status, notification, operator action in the transcript."""
        assert snap_compare(app_factory(), terminal_size=(100, 30), run_before=prepare(extra=_panic))

    def test_module_error(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """A module in error shows its reason in the toggles and a notification."""
        assert snap_compare(app_factory(), terminal_size=(100, 30), run_before=prepare(extra=_module_error))


class TestScreens:
    """The modal screens."""

    def test_help(self, snap_compare: Snap, app_factory: AppFactory) -> None:
        """F1 lists every key as configured."""
        assert snap_compare(app_factory(), terminal_size=(100, 30), press=["f1"], run_before=prepare())
