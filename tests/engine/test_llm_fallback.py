"""An LLM failure speaks the persona's fallback line (moderated like any sentence), backs off, and after
[llm] fail_after failures in a row shows the llm module in error; a reply that works resets it."""

from __future__ import annotations

import asyncio
from typing import Any

from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState, Source
from kitsu_tui.safety import Moderator

from .conftest import ROOT, EngineFactory, Recorder, make_settings

RULES = ROOT / "data" / "moderation"


async def chat(engine: Engine, text: str) -> dict[str, Any]:
    assert engine.submit_text(text, Source.CHAT, "viewer")
    await asyncio.wait_for(engine.wait_idle(), 20)
    return engine.records[-1]


def llm_wait_s(rec: Recorder, turn: int) -> float:
    """Seconds from the previous turn's LLM failure to this turn's LLM call (the fallback line is short)."""
    failed = [e.ts for e in rec.of("StageError") if e.stage == "llm" and e.turn_id < turn][-1]
    return float(next(e.ts for e in rec.of("LlmStarted") if e.turn_id == turn) - failed)


async def test_a_failed_reply_speaks_the_fallback_line_and_stays_out_of_history(make_engine: EngineFactory) -> None:
    llm = FakeLlm(["Back to normal now."], fail_with="server down")
    engine, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), moderator=Moderator(RULES))
    line = engine.persona.llm_fallback_line
    failed = await chat(engine, "hello")
    assert failed["spoken"] == line and "server down" in failed["error"]
    output = [m for m in failed["moderation"] if m["stage"] == "output"]
    assert [(m["action"], m["text"]) for m in output] == [("allow", line)]  # through output moderation
    assert any(e.stage == "llm" and "server down" in e.message for e in rec.of("StageError"))
    assert ("user", "hello") not in engine.conversation.history  # the failed exchange is never replayed
    assert all(text != line for _, text in engine.conversation.history)
    ok = await chat(engine, "again")
    assert ok["spoken"] == "Back to normal now." and not ok["error"]
    assert llm_wait_s(rec, ok["turn"]) >= 0.45  # the backoff after one failure (0.5 s)
    assert engine.conversation.history[-2:] == [("user", "again"), ("assistant", "Back to normal now.")]
    assert engine.flow.parts.llm_health.failures == 0


async def test_failures_in_a_row_put_the_llm_in_error_and_toggling_it_on_retries_now(
        make_engine: EngineFactory) -> None:
    llm = FakeLlm(["It works again."])
    settings = make_settings().with_values({"llm.fail_after": 2, "llm.retry_first_s": 60.0})  # no probe here
    engine, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), settings=settings,
                                    moderator=Moderator(RULES))
    line = engine.persona.llm_fallback_line
    for n in (1, 2):
        llm.fail_with = f"timeout {n}"
        record = await chat(engine, f"message {n}")
        assert record["spoken"] == line  # said again: the repetition guard never drops the fallback line
    state, reason = engine.module_states["llm"]
    assert state == ModuleState.ERROR and "2 replies in a row" in reason and "timeout 2" in reason
    assert "retrying in 60s" in reason
    assert llm_wait_s(rec, engine.records[-1]["turn"]) >= 0.45  # the backoff after one failure (0.5 s)
    assert engine.submit_text("anyone there?", Source.CHAT, "viewer")  # admitted while failing: it waits
    await asyncio.wait_for(engine.wait_idle(), 5)
    assert [turn.text for turn in engine.queue.waiting] == ["anyone there?"] and not rec.of("TurnRejected")
    assert engine.module_states["llm"][1].endswith("1 waiting")
    await engine.toggle_module("llm", True)  # a run-time failure may be retried (a model that never loaded may not)
    assert engine.module_on("llm")
    await asyncio.wait_for(engine.wait_idle(), 20)
    ok = engine.records[-1]
    assert ok["transcript"] == "anyone there?" and ok["spoken"] == "It works again."
    assert llm_wait_s(rec, ok["turn"]) >= 0.95  # doubled: 1 s
    assert engine.flow.parts.llm_health.failures == 0


async def test_a_reply_with_nothing_to_say_is_asked_for_again(make_engine: EngineFactory) -> None:
    """The model opened with its mood tag and stopped: the reply is generated once more, never left silent."""
    llm = FakeLlm(["[neutral]", "[happy] Name it Biscuit!"])
    engine, _ = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), moderator=Moderator(RULES))
    record = await chat(engine, "what should I name my new cat")
    assert record["spoken"] == "Name it Biscuit!" and not record["error"]
    assert len(llm.prompts) == 2
    assert engine.conversation.history[-2:] == [("user", "what should I name my new cat"),
                                                ("assistant", "Name it Biscuit!")]


async def test_a_reply_with_nothing_to_say_twice_speaks_the_fallback_line(make_engine: EngineFactory) -> None:
    """Twice nothing: the fallback line, moderated; the exchange stays out of history like a failure."""
    llm = FakeLlm(["[neutral]", "[sad]", "Back again."])
    engine, _ = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), moderator=Moderator(RULES))
    line = engine.persona.llm_fallback_line
    record = await chat(engine, "hello there")
    assert record["spoken"] == line and record["unanswered"] and record["kept_out"] and not record["error"]
    assert [(m["action"], m["text"]) for m in record["moderation"] if m["stage"] == "output"] == [("allow", line)]
    assert ("user", "hello there") not in engine.conversation.history
    assert engine.flow.parts.llm_health.failures == 0  # the LLM answered: not an outage
    assert (await chat(engine, "again"))["spoken"] == "Back again."
