"""Engine tests on fake backends: event order, ordered parallel TTS, errors that do not kill the engine."""

from __future__ import annotations

import asyncio
from typing import Any

from kitsu_tui.backends.base import Audio
from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import SentenceStatus, Source

from .conftest import EngineFactory, make_settings


async def run_chat(engine: Engine, text: str = "hello", limit_s: float = 15) -> dict[str, Any]:
    assert engine.submit_text(text, Source.CHAT, "viewer")
    await asyncio.wait_for(engine.wait_idle(), limit_s)
    return engine.records[-1]


async def test_chat_turn_event_order(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm(["Hello there little fox! How are you today? I am great."]))
    record = await run_chat(engine)
    kinds = rec.kinds(turn_id=record["turn"])
    # the turn's life in order
    milestones = ["TurnStarted", "LlmStarted", "LlmToken", "SentenceQueued", "TtsAudioReady",
                  "PlaybackStarted", "PlaybackFinished", "TurnCompleted"]
    positions = [kinds.index(k) for k in milestones]
    assert positions == sorted(positions), kinds
    assert kinds[-1] == "TurnCompleted"
    queued = [e.text for e in rec.of("SentenceQueued")]
    assert queued == ["Hello there little fox!", "How are you today?", "I am great."]
    assert record["spoken"] == " ".join(queued)
    assert record["reply"] == "Hello there little fox! How are you today? I am great."
    lat = record["latency_ms"]
    assert 0 <= lat["llm_first_token"] <= lat["first_clause"]
    assert lat["first_audio"] > 0 and lat["total"] >= lat["first_audio"]
    # history holds what was said
    assert engine.conversation.history[-2] == ("user", "hello")  # no "login: text" line for the model to copy
    assert engine.conversation.history[-1] == ("assistant", record["spoken"])


async def test_parallel_tts_is_delivered_in_order(make_engine: EngineFactory) -> None:
    first = "The first sentence is quite slow."
    tts = FakeTts(delays={first: 0.4}, delay_s=0.02)
    engine, rec = await make_engine(llm=FakeLlm([f"{first} The second one is quick. Third!"], token_delay_s=0.0),
                                    tts=tts, settings=make_settings(first_audio_priority=False))
    await run_chat(engine)
    ready = [e.index for e in rec.of("TtsAudioReady")]
    assert ready.index(1) < ready.index(0), "sentence 1 was synthesized while sentence 0 was still in TTS"
    assert [e.index for e in rec.of("PlaybackStarted")] == [0, 1, 2]
    finished = rec.of("PlaybackFinished")
    assert [e.played_text for e in finished] == [first, "The second one is quick.", "Third!"]


async def test_llm_waits_while_the_first_sentence_is_synthesized(make_engine: EngineFactory) -> None:
    """first_audio_priority: no token is generated while the first sentence's speech is being made; then it goes on."""
    reply = "Hello there little fox! " + " ".join(f"word{i}" for i in range(40)) + "."

    async def tokens_during_first_synthesis(priority: bool) -> int:
        tts = FakeTts(delays={"Hello there little fox!": 0.3}, ms_per_char=5.0)
        engine, rec = await make_engine(llm=FakeLlm([reply], token_delay_s=0.005), tts=tts,
                                        settings=make_settings(first_audio_priority=priority))
        record = await run_chat(engine)
        assert record["reply"] == reply and record["spoken"] == reply
        queued = next(e.ts for e in rec.of("SentenceQueued") if e.index == 0)
        ready = next(e.ts for e in rec.of("TtsAudioReady") if e.index == 0)
        return sum(1 for e in rec.of("LlmToken") if queued + 0.05 < e.ts < ready)

    assert await tokens_during_first_synthesis(True) == 0
    assert await tokens_during_first_synthesis(False) > 10


async def test_llm_error_does_not_kill_the_engine(make_engine: EngineFactory) -> None:
    llm = FakeLlm(["Second turn works fine."], fail_with="model exploded")
    engine, rec = await make_engine(llm=llm)
    broken = await run_chat(engine, "first")
    assert "model exploded" in broken["error"]
    assert any(e.stage == "llm" and "model exploded" in e.message for e in rec.of("StageError"))
    ok = await run_chat(engine, "second")
    assert ok["spoken"] == "Second turn works fine." and not ok["error"]


async def test_tts_error_skips_only_that_sentence(make_engine: EngineFactory) -> None:
    class FlakyTts(FakeTts):
        def synthesize(self, text: str, speed: float = 1.0) -> Audio:
            if "broken" in text:
                raise RuntimeError("voice crashed")
            return super().synthesize(text, speed)

    engine, rec = await make_engine(llm=FakeLlm(["This one is fine. This one is broken. Last one plays."]),
                                    tts=FlakyTts())
    record = await run_chat(engine)
    assert record["spoken"] == "This one is fine. This one is broken. Last one plays."  # shown as a subtitle
    assert any(e.stage == "tts" for e in rec.of("StageError"))
    skipped = [e for e in rec.of("SentenceStateChanged") if e.status == SentenceStatus.SKIPPED]
    assert [e.index for e in skipped] == [1]


async def test_llm_off_refuses_typed_turns_and_say_still_works(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine()
    await engine.toggle_module("llm", False)
    assert not engine.submit_text("are you there?")
    rejected = rec.of("TurnRejected")[-1]
    assert "llm is off" in rejected.reason
    assert engine.say("Operator line.")
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert engine.records[-1]["spoken"] == "Operator line."
    await engine.toggle_module("llm", True)
    record = await run_chat(engine, "back?")
    assert record["spoken"]


async def test_speech_gate_holds_speech_until_cleared(make_engine: EngineFactory) -> None:
    engine, rec = await make_engine(llm=FakeLlm(["Held line here."]))
    gate: dict[str, str | None] = {"reason": "scene BRB is live"}
    engine.add_speech_gate("obs", lambda: gate["reason"])
    assert engine.submit_text("hi")
    await asyncio.sleep(0.5)
    assert not rec.of("PlaybackStarted")
    assert any("scene BRB is live" in e.message for e in rec.of("Notice"))
    gate["reason"] = None
    await asyncio.wait_for(engine.wait_idle(), 10)
    assert rec.of("PlaybackStarted") and engine.records[-1]["spoken"] == "Held line here."


async def test_lipsync_follows_played_audio_at_30hz_or_more(make_engine: EngineFactory) -> None:
    from kitsu_tui.audio.lipsync import LipsyncAnalyzer

    analyzer = LipsyncAnalyzer()
    engine, rec = await make_engine(llm=FakeLlm(["A fairly long sentence so the mouth has time to move around."]),
                                    analyzer=analyzer.analyze)
    await run_chat(engine)
    start = rec.of("PlaybackStarted")[0].ts
    end = rec.of("PlaybackFinished")[-1].ts
    frames = [e for e in rec.of("MouthUpdated") if start <= e.ts <= end]
    assert len(frames) / (end - start) >= 30, "mouth frames at >= 30 Hz while speaking"
    values = [f.value for f in frames]
    assert max(values) > 0.3 and min(values) < max(values) / 2, "the mouth opens and closes with the audio"
    assert rec.of("MouthUpdated")[-1].value == 0.0, "the mouth closes when speech ends"
