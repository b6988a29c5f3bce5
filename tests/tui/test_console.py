"""Console behaviour: fast first frame, warnings for missing devices, untrusted text, NO_COLOR."""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kitsu_tui.bootstrap import EngineParts
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Source
from kitsu_tui.tui.app import KitsuApp, default_engine_factory
from kitsu_tui.tui.screens.main import MainScreen
from kitsu_tui.tui.widgets.status import StatusBar

from .conftest import ROOT, fake_factory
from .helpers import notifications, started, transcript, until

AppFactory = Callable[..., KitsuApp]


async def test_screen_is_visible_before_the_engine_is_built(settings: Settings) -> None:
    """The first frame does not wait for the engine: a factory that takes 3 s still gives a screen in < 1 s."""
    release = threading.Event()
    inner = fake_factory(settings)

    def slow_factory() -> EngineParts:
        release.wait(3.0)  # stands in for heavy imports and model construction
        return inner()

    app = KitsuApp(settings, slow_factory, attach=None, blink=False)
    began = time.monotonic()
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and transcript(app), what="first frame")
        shown_after = time.monotonic() - began
        assert app.engine is None, "the screen must not wait for the engine"
        assert transcript(app)[0].startswith("system: starting")
        await pilot.press(*"too early", "enter")
        assert "kitsu is still starting" in notifications(app)
        release.set()
        await started(app, pilot)
    assert shown_after < 1.0, f"first frame after {shown_after:.2f}s"


async def test_missing_devices_are_announced_and_typed_turns_still_work(app_factory: AppFactory) -> None:
    """Factory warnings (no mic, no speakers) land in the transcript and notifications; chat still answers."""
    app = app_factory(warnings=["microphone unavailable: no audio devices found. Voice is off; type in the chat box.",
                                "no speakers: replies are recorded to data/recordings/"])
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        lines = transcript(app)
        assert any(line.startswith("warning: microphone unavailable") for line in lines)
        assert any(line.startswith("warning: no speakers: replies are recorded") for line in lines)
        assert any(n.startswith("microphone unavailable") for n in notifications(app))
        assert app.main.query_one(StatusBar).mic == "no mic"
        await pilot.press(*"anyone there?", "enter")
        await until(pilot, lambda: engine.records, what="a typed turn")
        assert engine.records[0]["spoken"]


async def test_default_factory_on_a_machine_without_audio_devices(settings: Settings, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The real factory: no PulseAudio/sound card -> a microphone reason, a null sink and recordings to files."""
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    settings = settings.with_values({"paths.data_dir": tmp_path / "data",
                                     "moderation.rules_dir": ROOT / "data" / "moderation"})
    parts = default_engine_factory(settings)()
    try:
        assert any(w.startswith("microphone unavailable") and "type in the chat box" in w for w in parts.warnings)
        assert isinstance(parts.engine, Engine) and parts.engine.inputs == []
        assert parts.engine.settings.audio.record_dir == tmp_path / "data" / "recordings"
        assert any(f"{parts.engine.settings.audio.record_dir}/" in w for w in parts.warnings), parts.warnings
    finally:
        await parts.engine.stop()


async def test_untrusted_text_is_shown_literally(app_factory: AppFactory) -> None:
    """Escape sequences and markup in chat text/author never reach the terminal; brackets show as typed."""
    app = app_factory()
    hostile = "hi\x1b[2J\x1b]0;pwned\x07 [bold red]x[/] \x1b[31mred"
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        engine.say(hostile)
        engine.submit_text("hello", Source.CHAT, "evil\x1b[2Jname[/]")
        await until(pilot, lambda: len(engine.records) == 2, what="both turns")
        await pilot.pause(0.2)
        lines = transcript(app)
        assert "say: hi [bold red]x[/] red" in lines
        assert "evil[/]: hello  [chat]" in lines or any(line.startswith("evilname[/]: hello") for line in lines)
        svg = app.export_screenshot()
    assert "\x1b" not in svg and "pwned" not in svg
    assert "[bold&#160;red]x[/]" in svg or "[bold red]x[/]" in html.unescape(svg).replace("\xa0", " ")


async def test_no_color_is_respected(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR=1 turns on Textual's colourless line filter."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = KitsuApp(settings, fake_factory(settings), attach=None, blink=False)
    assert app.no_color
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app, pilot)
        assert any(type(f).__name__ in ("NoColor", "Monochrome") for f in app.get_line_filters())


async def test_lag_probe_measures_a_blocked_loop() -> None:
    """The probe that guards the 50 ms budget does see a 120 ms block."""
    from kitsu_tui.tui.lag import LagProbe

    probe = LagProbe()
    probe.start()
    await asyncio.sleep(0.05)
    time.sleep(0.12)  # noqa: ASYNC251 - deliberately block the loop
    await asyncio.sleep(0.05)
    await probe.stop()
    assert probe.worst_s >= 0.1 and probe.stalls >= 1
