"""Smoke test: one chat turn through the engine on fakes."""

from __future__ import annotations

import asyncio

from kitsu_tui.backends.fakes import FakeLlm


async def test_chat_turn_runs(make_engine) -> None:
    engine, rec = await make_engine(llm=FakeLlm(["[happy] Hi there, friend! How are you today?"]))
    assert engine.submit_text("hello", author="viewer")
    await asyncio.wait_for(engine.wait_idle(), 10)
    record = engine.records[-1]
    print(rec.kinds())
    print(record)
    assert record["spoken"]
    for e in rec.of("PlaybackFinished"):
        print(e)
