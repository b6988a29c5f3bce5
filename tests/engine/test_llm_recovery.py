"""During an LLM outage the llm module shows failing, chat waits in a bounded queue, /say lines still play, and a
probe with backoff brings the module back by itself; the waiting turns are then answered in order."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.backends.llm_openai import OpenAiLlm
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState, ModuleStateChanged, Notice, Source, TurnStarted
from kitsu_tui.engine.listener import Utterance
from kitsu_tui.safety import Moderator

from ..backends.test_llm_openai import ScriptedServer
from .conftest import ROOT, EngineFactory, Recorder, make_settings

RULES = ROOT / "data" / "moderation"


async def failing_engine(make_engine: EngineFactory, llm: FakeLlm, retry_first_s: float = 60.0,
                         **engine: Any) -> tuple[Engine, Recorder]:
    """An engine whose LLM is down, already failing after one failed reply (fail_after = 1)."""
    settings = make_settings(**engine).with_values({"llm.fail_after": 1, "llm.retry_first_s": retry_first_s})
    engine_, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), settings=settings,
                                     moderator=Moderator(RULES))
    assert engine_.submit_text("are you there?", Source.CHAT, "viewer")
    await asyncio.wait_for(engine_.wait_idle(), 10)
    assert engine_.records[-1]["spoken"] == engine_.persona.llm_fallback_line
    assert engine_.module_states["llm"][0] == ModuleState.ERROR
    return engine_, rec


async def until(check: Any, limit_s: float = 10) -> None:
    """Wait until `check()` is true."""
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - polling state the engine changes
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), limit_s)


async def settle(engine: Engine, text: str, source: Source = Source.CHAT) -> None:
    """Submit a line and wait until the queue has taken it (run, or set aside for the LLM)."""
    assert engine.submit_text(text, source, "viewer")
    await asyncio.wait_for(engine.wait_idle(), 10)


def retry_s(reason: str) -> float:
    """The probe's wait in a failing module's reason."""
    found = re.search(r"retrying in ([0-9.]+)s", reason)
    assert found is not None, reason
    return float(found.group(1))


def llm_reasons(rec: Recorder) -> list[tuple[str, str]]:
    """The llm module's announced (state, reason) pairs, in order."""
    return [(str(e.state), e.reason) for e in rec.of("ModuleStateChanged") if e.module == "llm"]


async def test_chat_waits_during_an_outage_and_the_probe_brings_the_llm_back(make_engine: EngineFactory) -> None:
    llm = FakeLlm(["First answer.", "Second answer.", "Third answer."], outage="server down")
    settings = make_settings().with_values({"llm.fail_after": 2, "llm.retry_first_s": 0.2})
    engine, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), settings=settings,
                                    moderator=Moderator(RULES))
    line = engine.persona.llm_fallback_line
    for text in ("good morning fox", "what is the plan today"):
        await settle(engine, text)
    state, reason = engine.module_states["llm"]
    assert state == ModuleState.ERROR
    assert reason == "failing: 2 replies in a row (BackendError: server down); retrying in 0.2s, 0 waiting"
    for text in ("one", "two", "three"):
        await settle(engine, text)  # admitted, not refused: each waits for the LLM
    await settle(engine, "Still here, chat!", Source.SAY)  # /say lines play during the outage
    assert not rec.of("TurnRejected") and [t.text for t in engine.queue.waiting] == ["one", "two", "three"]
    assert engine.records[-1]["spoken"] == "Still here, chat!" and len(engine.records) == 3
    assert len(rec.of("LlmStarted")) == 2  # the waiting turns never called the LLM
    await until(lambda: llm.probes >= 2)
    retries = list(dict.fromkeys(retry_s(reason) for state, reason in llm_reasons(rec) if state == "error"))
    assert retries[:3] == [0.2, 0.4, 0.8]  # the probe's wait doubles
    assert llm_reasons(rec)[-1][1].endswith("3 waiting")
    llm.outage = None
    await wait_for_notice(rec, "llm is back")
    await asyncio.wait_for(engine.wait_idle(), 20)
    answered = engine.records[-3:]
    assert [(r["transcript"], r["spoken"]) for r in answered] == [
        ("one", "First answer."), ("two", "Second answer."), ("three", "Third answer.")]
    for record in answered:  # input moderation ran once, at admission
        assert [m["stage"] for m in record["moderation"]].count("input") == 1
    assert sum(r["spoken"] == line for r in engine.records) == 2  # one fallback line per failed reply, none per wait
    order = [e.reason if isinstance(e, ModuleStateChanged) else e.message if isinstance(e, Notice) else e.text
             for e in rec.events if isinstance(e, ModuleStateChanged | Notice | TurnStarted)]
    assert order[order.index("answered again"):] == [
        "answered again", "llm is back; 3 waiting turn(s) go on in order", "one", "two", "three"]
    assert engine.flow.parts.llm_health.failures == 0 and not engine.queue.waiting


async def wait_for_notice(rec: Recorder, start: str, limit_s: float = 10) -> None:
    """Wait until a notice starting with `start` was emitted."""
    await until(lambda: any(e.message.startswith(start) for e in rec.of("Notice")), limit_s)


async def test_operator_off_refuses_new_and_waiting_turns(make_engine: EngineFactory) -> None:
    llm = FakeLlm(outage="server down")
    engine, rec = await failing_engine(make_engine, llm)
    await settle(engine, "waiting line")
    await engine.toggle_module("llm", False)
    await asyncio.wait_for(engine.wait_idle(), 5)
    assert not engine.submit_text("new line", Source.CHAT, "viewer")
    refused = [(e.text, e.reason) for e in rec.of("TurnRejected")]
    assert refused == [("waiting line", "llm is off"), ("new line", "llm is off")]
    assert [r["rejected"] for r in engine.records[-2:]] == ["llm is off", "llm is off"]
    assert not engine.queue.waiting and llm.probes == 0 and len(rec.of("LlmStarted")) == 1


async def test_waiting_turns_are_bounded_and_chat_goes_first(make_engine: EngineFactory) -> None:
    engine, rec = await failing_engine(make_engine, FakeLlm(outage="server down"), max_pending_turns=3)
    now = time.monotonic()
    await engine.admission.on_utterance(Utterance(1, "kitsu can you hear me", now, now, now, 1.0))
    await asyncio.wait_for(engine.wait_idle(), 5)
    for n in range(1, 5):
        await settle(engine, f"chat {n}")
    assert [t.text for t in engine.queue.waiting] == ["kitsu can you hear me", "chat 3", "chat 4"]
    refused = [(e.text, e.reason) for e in rec.of("TurnRejected")]
    assert refused == [("chat 1", "too many turns waiting for the llm"), ("chat 2", "too many turns waiting for the llm")]
    assert [r.get("rejected") for r in engine.records[-2:]] == ["too many turns waiting for the llm"] * 2
    assert engine.module_states["llm"][1].endswith("3 waiting")


async def test_panic_drops_waiting_turns_and_the_probe_goes_on(make_engine: EngineFactory) -> None:
    llm = FakeLlm(["Should not be said."], outage="server down")
    engine, rec = await failing_engine(make_engine, llm, retry_first_s=0.1)
    await settle(engine, "waiting line")
    engine.panic()
    assert not engine.queue.waiting and rec.of("OperatorAction")[-1].detail == "dropped 1 waiting turns"
    llm.outage = None
    await wait_for_notice(rec, "llm is back")
    await asyncio.sleep(0.2)
    assert engine.module_on("llm") and "llm is back" in [e.message for e in rec.of("Notice")]
    assert all(r["transcript"] != "waiting line" for r in engine.records) and len(rec.of("LlmStarted")) == 1


async def test_a_reply_failing_right_after_recovery_sets_the_module_failing_again(make_engine: EngineFactory) -> None:
    llm = FakeLlm(outage="server down")
    settings = make_settings().with_values({"llm.fail_after": 3, "llm.retry_first_s": 0.1})
    engine, rec = await make_engine(llm=llm, tts=FakeTts(ms_per_char=1.0), settings=settings)
    for n in range(3):
        await settle(engine, f"fail {n}")
    await settle(engine, "waits one")
    await settle(engine, "waits two")
    llm.probe_result = True  # the probe passes but replies still fail
    await wait_for_notice(rec, "llm is back")
    await until(lambda: engine.module_states["llm"][0] == ModuleState.ERROR)
    await asyncio.wait_for(engine.wait_idle(), 10)
    reasons = llm_reasons(rec)
    before = retry_s(reasons[reasons.index(("on", "answered again")) - 1][1])  # the wait of the probe that passed
    assert [t.text for t in engine.queue.waiting] == ["waits two"]  # one more failure is enough
    assert engine.records[-1]["transcript"] == "waits one" and engine.records[-1]["error"]
    reason = engine.module_states["llm"][1]
    assert "failing: 4 replies in a row" in reason and retry_s(reason) == 2 * before  # the next probe waits longer
    assert sum(r["spoken"] == engine.persona.llm_fallback_line for r in engine.records) == 4


async def test_stop_ends_the_probe_promptly(make_engine: EngineFactory) -> None:
    llm = FakeLlm(outage="server down")
    engine, rec = await failing_engine(make_engine, llm, retry_first_s=0.05)
    await settle(engine, "still waiting")
    await until(lambda: llm.probes >= 2)
    started = time.monotonic()
    await asyncio.wait_for(engine.stop(), 5)
    assert time.monotonic() - started < 1.0
    reason = "the show stopped while the llm was failing"
    assert [(e.text, e.reason) for e in rec.of("TurnRejected")] == [("still waiting", reason)]
    assert engine.records[-1]["transcript"] == "still waiting" and engine.records[-1]["rejected"] == reason
    probes = llm.probes
    await asyncio.sleep(0.5)
    assert llm.probes == probes
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "kitsu-llm-probe"]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-style server on 127.0.0.1."""
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def test_openai_probe_is_a_one_token_completion_not_retried(server: ScriptedServer) -> None:
    llm = OpenAiLlm(server.base_url, model="fake-model", retries=2, retry_base_delay_s=0.01)
    assert llm.probe()
    assert server.requests[-1]["max_tokens"] == 1 and server.requests[-1]["stream"] is True
    server.script = ["500", "500"]
    with pytest.raises(BackendError, match=server.base_url):
        llm.probe()
    assert len(server.requests) == 2 and server.script == ["500"]  # one request: the engine's probe backs off
