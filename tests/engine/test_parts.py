"""The engine's parts through the real Engine and Moderator: family mode at run time, bounded records, interrupts."""

from __future__ import annotations

import asyncio
from typing import Any

from kitsu_tui.backends.fakes import FakeLlm
from kitsu_tui.engine.events import OperatorAction, Source
from kitsu_tui.engine.scheduler import CHAT_LOGINS_KEPT, RECORDS_KEPT
from kitsu_tui.safety import Moderator

from .conftest import ROOT, EngineFactory, make_settings, wait_for_event

RULES = ROOT / "data" / "moderation"


async def _chat(engine: Any, text: str, author: str = "viewer") -> dict[str, Any]:
    assert engine.submit_text(text, Source.CHAT, author), text
    await asyncio.wait_for(engine.wait_idle(), 15)
    record: dict[str, Any] = engine.records[-1]
    return record


async def test_family_mode_switches_at_run_time_without_touching_the_persona(make_engine: EngineFactory) -> None:
    """Family mode starts from the persona and the operator can switch it live: swearing in a reply is blocked
    only while it is on, and the persona object is never changed."""
    llm = FakeLlm(["This level is shit.", "This level is shit."])
    engine, rec = await make_engine(llm=llm, moderator=Moderator(RULES))
    assert engine.persona.family_friendly and engine.family_friendly
    first = await _chat(engine, "how is the game going?")
    assert "shit" not in first["spoken"]
    assert any(m["action"] == "block" and m["rule"] == "profanity" for m in first["moderation"])

    engine.set_family_friendly(False)
    assert not engine.family_friendly and engine.persona.family_friendly, "the persona file's value is unchanged"
    assert [e.detail for e in rec.of("OperatorAction") if isinstance(e, OperatorAction) and e.action == "family"] == [
        "off"]
    second = await _chat(engine, "and now?")
    assert second["spoken"] == "This level is shit."


async def test_persona_switch_restores_the_personas_family_mode(make_engine: EngineFactory) -> None:
    """A persona switch starts from the new persona's own family mode (and a fresh history)."""
    engine, _ = await make_engine(llm=FakeLlm(["Hi!"]), settings=make_settings())
    await _chat(engine, "hello")
    engine.set_family_friendly(False)
    await engine.switch_persona("calm")
    assert engine.persona.name != "Kitsu"
    assert engine.family_friendly == engine.persona.family_friendly
    assert engine.conversation.history == []


async def test_turn_records_and_chat_logins_stay_bounded(make_engine: EngineFactory) -> None:
    """A long show keeps a fixed window of turn records and recent chatters in memory, oldest dropped first."""
    engine, _ = await make_engine(llm=FakeLlm(["Okay."]))
    queue = engine.queue
    for number in range(2 * RECORDS_KEPT + 5):
        queue.finish({"turn": number, "source": "chat", "author": f"viewer{number}"})
    assert len(engine.records) <= 2 * RECORDS_KEPT
    assert engine.records[-1]["turn"] == 2 * RECORDS_KEPT + 4
    assert len(queue.chat_logins) == CHAT_LOGINS_KEPT
    assert f"viewer{2 * RECORDS_KEPT + 4}" in queue.chat_logins and "viewer0" not in queue.chat_logins


async def test_interrupt_cancels_the_speech_queue_not_the_next_turn(make_engine: EngineFactory) -> None:
    """An interrupt stops the running reply through its own stop flag; the turn after it runs normally."""
    long_reply = " ".join(f"Sentence number {n} goes on for a while." for n in range(12))
    engine, rec = await make_engine(llm=FakeLlm([long_reply, "Second reply."]))
    assert engine.submit_text("tell me a long story", Source.CHAT, "viewer")
    await wait_for_event(rec, "PlaybackStarted")
    first = engine.current
    assert first is not None
    assert engine.interrupt("operator")
    assert first.stale and first.turn.interrupted
    await asyncio.wait_for(engine.wait_idle(), 15)
    record = await _chat(engine, "hi again")
    assert record["spoken"] == "Second reply." and not record["interrupted"]
    interrupted = engine.records[-2]
    assert interrupted["interrupted"] and "Sentence number 11" not in interrupted["spoken"]
    assert [e.reason for e in rec.of("Interrupted")] == ["operator"]
