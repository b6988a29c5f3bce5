"""Pilot test: the family-mode key switches moderation live through the real engine and Moderator."""

from __future__ import annotations

from collections.abc import Callable

from kitsu_tui.backends.fakes import FakeLlm
from kitsu_tui.engine.events import Source
from kitsu_tui.safety import Moderator
from kitsu_tui.tui.app import KitsuApp

from .conftest import ROOT
from .helpers import notifications, started, transcript, until

AppFactory = Callable[..., KitsuApp]


async def test_f10_switches_family_mode_and_the_next_reply_follows_it(app_factory: AppFactory) -> None:
    """F10 turns family mode off: a swear the Moderator blocked in family mode is then spoken; F10 again restores it."""
    app = app_factory(llm=FakeLlm(["This boss is shit."] * 3), moderator=Moderator(ROOT / "data" / "moderation"))
    async with app.run_test(size=(100, 30)) as pilot:
        engine = await started(app, pilot)
        assert engine.family_friendly
        await pilot.press("f10")
        assert not engine.family_friendly and engine.persona.family_friendly
        await until(pilot, lambda: any("family mode off" in n for n in notifications(app)), what="the notification")
        await until(pilot, lambda: any("family off" in line for line in transcript(app)), what="the operator action in the transcript")
        assert engine.submit_text("how is the boss fight?", Source.CHAT, "viewer")
        await until(pilot, lambda: engine.records and engine.current is None, what="a reply")
        assert engine.records[-1]["spoken"] == "This boss is shit."
        await pilot.press("f10")
        assert engine.family_friendly
        assert engine.submit_text("and now?", Source.CHAT, "viewer")
        await until(pilot, lambda: len(engine.records) >= 2 and engine.current is None, what="a second reply")
        assert "shit" not in engine.records[-1]["spoken"]
