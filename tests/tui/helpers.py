"""Small helpers for console tests: wait for the engine, for conditions, and read the screen's widgets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.pilot import Pilot

from kitsu_tui.engine.engine import Engine
from kitsu_tui.tui.app import KitsuApp
from kitsu_tui.tui.widgets.transcript import Transcript


async def started(app: KitsuApp, pilot: Pilot[int], limit_s: float = 10.0) -> Engine:
    """Wait until the engine is built, started and its models are loaded; return it (the concrete Engine,
    whose internals the tests look at, not just the ConsoleEngine seam the console uses)."""
    await asyncio.wait_for(app.wait_ready(), limit_s)
    engine = app.engine
    assert isinstance(engine, Engine), app.boot_error
    await asyncio.wait_for(engine.wait_loaded(), limit_s)
    # The bridge delivers the engine's start-up events in 30 Hz batches: wait until the last of them
    # (the resting pipeline state) is on screen, so nothing from start-up lands after a test's own events.
    from kitsu_tui.tui.widgets.status import StatusBar

    deadline = time.monotonic() + limit_s
    while app.main.query_one(StatusBar).state != str(engine.state):
        if time.monotonic() > deadline:
            raise AssertionError(f"the status bar never showed {engine.state}")
        await pilot.pause(0.05)
    await pilot.pause(0.1)
    return engine


async def until(pilot: Pilot[int], check: Callable[[], object], limit_s: float = 10.0, what: str = "") -> None:
    """Let the app run until `check()` is truthy; fail with `what` after `limit_s` seconds."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await pilot.pause(0.05)


def transcript(app: KitsuApp) -> list[str]:
    """The transcript's lines as plain text."""
    return app.main.query_one(Transcript).lines


def notifications(app: KitsuApp) -> list[str]:
    """Messages of the notifications shown so far."""
    return [message for _, message in app.notice_history]
