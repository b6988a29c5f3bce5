"""Barge-in, skip and panic on fake backends: stale work dropped, only played text enters history."""

from __future__ import annotations

import asyncio

from kitsu_tui.backends.fakes import FakeLlm
from kitsu_tui.engine.events import SentenceStatus, Source
from kitsu_tui.engine.listener import Utterance

from .conftest import EngineFactory, make_settings, wait_for_event

LONG = ("This is the first sentence of a long story. Then a second sentence follows it. "
        "A third sentence keeps going on and on. The fourth sentence should never be heard.")




def utterance(text: str) -> Utterance:
    now = asyncio.get_running_loop().time()
    return Utterance(1, text, now - 1, now, now, 10.0)


async def test_barge_in_interrupts_and_history_keeps_only_played_text(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm([LONG, "Oh, sorry! Go ahead."]),
                                    settings=make_settings(barge_in="min_words", barge_in_min_words=3))
    assert engine.submit_text("tell me a story")
    await wait_for_event(rec, "PlaybackStarted")
    await asyncio.sleep(0.3)
    await engine.admission.on_utterance(utterance("wait stop please kitsu"))
    interrupted = rec.of("Interrupted")
    assert interrupted and interrupted[0].reason == "barge-in"
    first_turn = interrupted[0].turn_id
    await asyncio.wait_for(engine.wait_idle(), 15)
    cut = [e for e in rec.of("PlaybackFinished") if e.turn_id == first_turn and e.interrupted]
    assert cut, "the playing sentence was cut"
    assert cut[0].ts - interrupted[0].ts < 0.15, "playback stops within 150 ms"
    after = [e for e in rec.events if e.turn_id == first_turn and e.ts > interrupted[0].ts
             and e.kind in ("PlaybackStarted", "TtsAudioReady", "LlmToken")]
    assert not after, f"stale work of the interrupted turn went on: {after}"
    record = next(r for r in engine.records if r["turn"] == first_turn)
    assert record["interrupted"]
    assert record["spoken"] and len(record["spoken"]) < len(LONG)
    assert "never be heard" not in record["spoken"]
    assert ("assistant", record["spoken"]) in engine.conversation.history
    assert all("never be heard" not in text for _, text in engine.conversation.history)
    # the person's words became the next turn
    assert engine.records[-1]["transcript"] == "wait stop please kitsu"


async def test_echo_of_own_voice_does_not_interrupt(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm([LONG]))
    engine.submit_text("story please")
    await wait_for_event(rec, "PlaybackStarted")
    await engine.admission.on_utterance(utterance("the first sentence of a long story"))  # the mic hears the speakers
    await engine.admission.on_utterance(utterance("yes"))  # too short in min_words mode
    assert not rec.of("Interrupted")
    await asyncio.wait_for(engine.wait_idle(), 20)
    assert len(engine.records) == 1 and not engine.records[0]["interrupted"]


async def test_ignore_mode_never_interrupts(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm(["Short reply here. And another one."]),
                                    settings=make_settings(barge_in="ignore"))
    engine.submit_text("hi")
    await wait_for_event(rec, "PlaybackStarted")
    await engine.admission.on_utterance(utterance("please stop talking right now"))
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert not rec.of("Interrupted")


async def test_skip_drops_only_the_playing_sentence(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm(["Skip this sentence right now please. But keep this one."]))
    engine.submit_text("go")
    await wait_for_event(rec, "PlaybackStarted")
    await asyncio.sleep(0.2)
    assert engine.skip()
    await asyncio.wait_for(engine.wait_idle(), 10)
    record = engine.records[-1]
    assert "But keep this one." in record["spoken"]
    assert "Skip this sentence right now please." not in record["spoken"]
    statuses = {(e.index, e.status) for e in rec.of("SentenceStateChanged")}
    assert (0, SentenceStatus.SKIPPED) in statuses and (1, SentenceStatus.DONE) in statuses


async def test_panic_stops_everything_mutes_and_refuses_until_cleared(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm([LONG, "After panic.", "Third."]))
    engine.submit_text("one")
    engine.submit_text("two", Source.CHAT, "b")
    await wait_for_event(rec, "PlaybackStarted")
    engine.panic()
    assert engine.panicked and engine.muted and engine.queue.pending.empty()
    assert rec.of("Interrupted")[-1].reason == "panic"
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert not engine.player.busy
    assert not engine.submit_text("are you back?")
    assert "panic" in rec.of("TurnRejected")[-1].reason
    engine.clear_panic()
    assert not engine.panicked and engine.muted, "clearing panic keeps the mic muted until unmuted"
    engine.set_muted(False)
    assert engine.submit_text("three")
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert engine.records[-1]["spoken"] == "After panic."


async def test_panic_hooks_of_modules_fire(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine()
    calls: list[bool] = []

    class Obs:
        name = "obs"

        async def start(self, engine: object) -> None:
            pass

        async def stop(self) -> None:
            pass

        async def on_panic(self, engaged: bool) -> list[str]:
            calls.append(engaged)
            return ["scene BRB"]

    engine.register_module(Obs())
    engine.panic()
    engine.clear_panic()
    await asyncio.sleep(0.1)
    assert calls == [True, False]
    assert any("scene BRB" in e.message for e in rec.of("Notice"))


async def test_stop_while_speaking_returns_promptly(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm([LONG]))
    engine.submit_text("talk")
    await wait_for_event(rec, "PlaybackStarted")
    await asyncio.wait_for(engine.stop(), 2.0)
    assert engine.state == "stopped"
