"""Pilot tests of the pre-air hold: review and delayed sentences on screen, approved or dumped with the keys."""

from __future__ import annotations

from collections.abc import Callable

from kitsu_tui.backends.fakes import FakeLlm
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.events import Source
from kitsu_tui.safety import Moderator
from kitsu_tui.tui.app import KitsuApp
from kitsu_tui.tui.widgets.hold import HoldPanel

from .conftest import ROOT
from .helpers import notifications, started, transcript, until

AppFactory = Callable[..., KitsuApp]
RULES = ROOT / "data" / "moderation"


def panel_text(app: KitsuApp) -> str:
    """What the hold panel shows now."""
    return str(app.main.query_one(HoldPanel).render())


async def test_review_sentence_is_shown_and_f7_puts_it_on_air(app_factory: AppFactory) -> None:
    app = app_factory(llm=FakeLlm(["Immigrants are so loud sometimes. Anyway, hello!"]), moderator=Moderator(RULES))
    async with app.run_test(size=(120, 36)) as pilot:
        engine = await started(app, pilot)
        assert engine.submit_text("what about the neighbours?", Source.CHAT, "viewer")
        await until(pilot, lambda: engine.hold.items, what="a held sentence")
        await until(pilot, lambda: "REVIEW" in panel_text(app), what="the review row in the panel")
        assert "Immigrants are so loud" in panel_text(app) and "group_hate" in panel_text(app)
        assert any("held for review" in n for n in notifications(app))
        assert not engine.records, "nothing is spoken while the sentence waits"
        await pilot.press("f7")
        await until(pilot, lambda: engine.records, what="the turn to finish")
        assert engine.records[-1]["spoken"] == "Immigrants are so loud sometimes. Anyway, hello!"
        await until(pilot, lambda: any("held sentence approved" in line for line in transcript(app)), what="the approval logged")
        assert "nothing held" in panel_text(app) and "approved 1" in panel_text(app)


async def test_f8_dumps_one_and_f9_dumps_all(settings: Settings, app_factory: AppFactory) -> None:
    app = app_factory(llm=FakeLlm(["One thing here. Two things here.", "Three things here. Four things here."]),
                      moderator=Moderator(RULES), settings=settings.with_values({"hold.chat": 60.0}))
    async with app.run_test(size=(120, 36)) as pilot:
        engine = await started(app, pilot)
        assert engine.submit_text("first", Source.CHAT, "viewer")
        await until(pilot, lambda: len(engine.hold.items) == 2, what="two delayed sentences")
        await until(pilot, lambda: "One thing here." in panel_text(app), what="the delayed rows")
        await pilot.press("f8")  # dump the oldest
        await until(pilot, lambda: len(engine.hold.items) == 1, what="one left")
        await pilot.press("f7")  # approve the other
        await until(pilot, lambda: engine.records, what="the first turn to finish")
        assert engine.records[-1]["spoken"] == "Two things here."
        assert engine.conversation.history == [], "a reply with a dumped sentence stays out of history"
        assert engine.submit_text("second", Source.CHAT, "viewer")
        await until(pilot, lambda: len(engine.hold.items) == 2, what="two more delayed sentences")
        await pilot.press("f9")
        await until(pilot, lambda: len(engine.records) == 2, what="the second turn to end")
        assert engine.records[-1]["spoken"] == ""
        await until(pilot, lambda: "dumped 3" in panel_text(app), what="the dump count")
        assert any("dump all" in line for line in transcript(app))
        await pilot.press("f8")
        await until(pilot, lambda: "nothing is held" in notifications(app), what="the nothing-held notice")
