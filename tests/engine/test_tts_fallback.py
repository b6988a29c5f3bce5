"""A failed synthesis retries once, then speaks with a fallback voice, then shows the sentence as a subtitle;
one alert per failure streak, a StageError per failed try, and the tts module back on once the voice works."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from kitsu_tui.backends.base import Audio, BackendError
from kitsu_tui.backends.factory import FallbackVoices
from kitsu_tui.backends.fakes import FakeLlm, FakeTts
from kitsu_tui.backends.tts_cache import VoiceIdentity
from kitsu_tui.config.settings import TtsSettings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState, Source
from kitsu_tui.engine.speech import DEGRADED
from kitsu_tui.engine.state import FAILING

from .conftest import EngineFactory, Recorder, make_settings

MS_PER_CHAR = 2.0


class FlakyTts(FakeTts):
    """FakeTts that fails its next `failures` calls (-1: every call until changed) with a BackendError."""

    def __init__(self, failures: int = 0, sample_rate: int = 16000) -> None:
        super().__init__(sample_rate=sample_rate, ms_per_char=MS_PER_CHAR)
        self.failures = failures
        self.failed: list[str] = []
        self._flaky = threading.Lock()

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Raise while failures are left, else a tone."""
        with self._flaky:
            failing = self.failures != 0
            if self.failures > 0:
                self.failures -= 1
            if failing:
                self.failed.append(text)
        if failing:
            raise BackendError("the voice crashed")
        return super().synthesize(text, speed)


async def chat(engine: Engine, text: str) -> dict[str, Any]:
    assert engine.submit_text(text, Source.CHAT, "viewer")
    await asyncio.wait_for(engine.wait_idle(), 20)
    return engine.records[-1]


def alerts(rec: Recorder) -> list[str]:
    """The operator alerts (warning and error notices) about tts."""
    return [n.message for n in rec.of("Notice") if n.level in ("warning", "error") and n.message.startswith("tts")]


def tts_errors(rec: Recorder, turn: int) -> list[str]:
    return [e.message for e in rec.of("StageError") if e.stage == "tts" and e.turn_id == turn]


def played(rec: Recorder, turn: int) -> list[str]:
    return [e.text for e in rec.of("PlaybackStarted") if e.turn_id == turn]


async def test_a_failure_is_retried_once_and_the_sentence_is_heard(make_engine: EngineFactory) -> None:
    tts = FlakyTts(failures=1)
    engine, rec = await make_engine(llm=FakeLlm(["Hello there friend."]), tts=tts)
    record = await chat(engine, "hi")
    assert tts.failed == ["Hello there friend."] and tts.calls == ["Hello there friend."]  # failed, then retried
    assert record["spoken"] == "Hello there friend." and played(rec, record["turn"]) == ["Hello there friend."]
    assert len(tts_errors(rec, record["turn"])) == 1  # the failed try is counted
    assert not alerts(rec) and engine.module_states["tts"][0] == ModuleState.ON  # a retry that works is no streak


async def test_a_failing_voice_falls_back_to_the_next_voice_at_its_own_rate(make_engine: EngineFactory) -> None:
    tts = FlakyTts(failures=-1)
    fallback = FakeTts(sample_rate=22050, ms_per_char=MS_PER_CHAR)
    built: list[str] = []

    def build(settings: TtsSettings, voice: str) -> FakeTts:
        built.append(voice)
        return fallback

    settings = make_settings().with_values({"tts.fallback_voices": ["/voices/backup.onnx"]})
    engine, rec = await make_engine(llm=FakeLlm(["First line here. Second line here.", "All good now."]),
                                    tts=tts, settings=settings)
    engine.flow.parts.tts_fallbacks.build = build
    assert not built, "a fallback voice is only built when it is needed"
    record = await chat(engine, "hi")
    turn = record["turn"]
    assert record["spoken"] == "First line here. Second line here."
    assert played(rec, turn) == ["First line here.", "Second line here."]  # heard, in the fallback voice
    assert fallback.calls == ["First line here.", "Second line here."] and built == ["/voices/backup.onnx"]
    assert len(tts_errors(rec, turn)) == 4  # two tries of the voice per sentence
    durations = [e.duration_s for e in rec.of("TtsAudioReady") if e.turn_id == turn]
    expected = [len("First line here.") * MS_PER_CHAR / 1000, len("Second line here.") * MS_PER_CHAR / 1000]
    assert all(abs(got - want) < 0.002 for got, want in zip(durations, expected, strict=True))  # resampled
    state, reason = engine.module_states["tts"]
    assert state == ModuleState.ON and reason.startswith(DEGRADED) and "backup.onnx" in reason
    assert len(alerts(rec)) == 1 and "fallback voice" in alerts(rec)[0]  # one alert for the streak

    tts.failures = 0  # the voice is back: the next sentence tries it first
    ok = await chat(engine, "again")
    assert ok["spoken"] == "All good now." and tts.calls[-1] == "All good now."
    assert fallback.calls == ["First line here.", "Second line here."] and built == ["/voices/backup.onnx"]
    assert engine.module_states["tts"] == (ModuleState.ON, "") and len(alerts(rec)) == 1


async def test_no_voice_left_shows_subtitles_and_one_alert_until_the_voice_works(make_engine: EngineFactory) -> None:
    tts = FlakyTts(failures=-1)
    llm = FakeLlm(["Cannot hear me. Still silent here.", "Nobody hears this.", "Back on the air."])
    engine, rec = await make_engine(llm=llm, tts=tts)
    first = await chat(engine, "hi")
    assert first["spoken"] == "Cannot hear me. Still silent here."  # shown, in order, as subtitles
    assert not played(rec, first["turn"]) and first["error"] == ""
    assert len(tts_errors(rec, first["turn"])) == 4
    skipped = [e.reason for e in rec.of("SentenceStateChanged") if e.turn_id == first["turn"] and e.status == "skipped"]
    assert skipped == ["tts error: subtitles only"] * 2
    state, reason = engine.module_states["tts"]
    assert state == ModuleState.ERROR and reason.startswith(FAILING) and "the voice crashed" in reason
    second = await chat(engine, "anyone?")  # still failing: tried again, still one alert
    assert second["spoken"] == "Nobody hears this." and tts.failed.count("Nobody hears this.") == 2
    assert len(alerts(rec)) == 1 and engine.module_states["tts"][0] == ModuleState.ERROR

    tts.failures = 0
    third = await chat(engine, "better?")
    assert third["spoken"] == "Back on the air." and played(rec, third["turn"]) == ["Back on the air."]
    assert not tts_errors(rec, third["turn"])
    assert engine.module_states["tts"] == (ModuleState.ON, "")
    assert len(alerts(rec)) == 1 and "subtitles only" in alerts(rec)[0]
    assert [n.message for n in rec.of("Notice") if n.level == "info"][-1] == "tts: the voice works again"


async def test_a_fallback_voice_that_cannot_load_is_skipped_and_not_loaded_again() -> None:
    loads: list[str] = []

    class Broken(FakeTts):
        def load(self) -> None:
            loads.append("load")
            raise BackendError("no such voice file")

    voices = FallbackVoices(lambda settings, voice: Broken())
    for _ in range(2):
        with pytest.raises(BackendError, match="/missing.onnx cannot load: no such voice file"):
            voices.ready(TtsSettings(), "/missing.onnx")
    assert loads == ["load"] and voices.loaded() == []


class CachedVoiceTts(FakeTts):
    """FakeTts that names a voice identity, so its fixed lines may be cached."""

    def cache_identity(self) -> VoiceIdentity:
        """A fixed fake voice."""
        return VoiceIdentity("fake", "fake-voice", None, 1.0, self.sample_rate)


async def test_fixed_lines_are_synthesized_once_then_served_from_the_cache(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    tts = CachedVoiceTts(ms_per_char=MS_PER_CHAR)
    settings = make_settings().with_values({"tts.cache_dir": tmp_path / "tts-cache"})
    llm = FakeLlm(["Thanks for coming by!"], fail_with="server down")
    engine, rec = await make_engine(llm=llm, tts=tts, settings=settings)
    line = engine.persona.llm_fallback_line
    for _ in range(2):
        assert engine.say("Welcome to the stream!")
        await asyncio.wait_for(engine.wait_idle(), 20)
        assert engine.records[-1]["spoken"] == "Welcome to the stream!"
        assert played(rec, engine.records[-1]["turn"]) == ["Welcome to the stream!"]
    assert tts.calls == ["Welcome to the stream!"], "the second /say line came from the cache"
    failed = await chat(engine, "hi")  # the LLM fails: its fallback line is a fixed line too
    llm.fail_with = "server down"
    again = await chat(engine, "hi again")
    assert failed["spoken"] == again["spoken"] == line and tts.calls.count(line) == 1
    assert played(rec, again["turn"]) == [line]
    reply = await chat(engine, "thanks")  # an LLM reply is synthesized but never cached
    assert reply["spoken"] == "Thanks for coming by!" and tts.calls[-1] == "Thanks for coming by!"
    texts = sorted(json.loads(p.read_text(encoding="utf-8"))["text"] for p in (tmp_path / "tts-cache").glob("*.json"))
    assert texts == sorted([line, "Welcome to the stream!"])


async def test_a_reply_that_opens_with_a_word_or_two_takes_it_from_the_cache(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    """ "Oh," opens many replies: it is synthesized once, then served from the cache; longer chunks never are."""
    tts = CachedVoiceTts(ms_per_char=MS_PER_CHAR)
    settings = make_settings().with_values({"tts.cache_dir": tmp_path / "tts-cache"})
    llm = FakeLlm(["Oh, that is a lovely question.", "Oh, what a fun idea!"])
    engine, rec = await make_engine(llm=llm, tts=tts, settings=settings)
    first = await chat(engine, "do you like rain?")
    second = await chat(engine, "let's bake a cake")
    assert played(rec, first["turn"]) == ["Oh,", "that is a lovely question."]
    assert played(rec, second["turn"]) == ["Oh,", "what a fun idea!"]
    assert tts.calls == ["Oh,", "that is a lovely question.", "what a fun idea!"], "the second 'Oh,' came from the cache"
    texts = [json.loads(p.read_text(encoding="utf-8"))["text"] for p in (tmp_path / "tts-cache").glob("*.json")]
    assert texts == ["Oh,"]
    settings = settings.with_values({"tts.cache_short_lines": 0, "tts.cache_dir": tmp_path / "off"})
    engine, rec = await make_engine(llm=FakeLlm(["Oh, sure."]), tts=CachedVoiceTts(ms_per_char=MS_PER_CHAR),
                                    settings=settings)
    await chat(engine, "hi")
    assert not (tmp_path / "off").exists() or not list((tmp_path / "off").glob("*.json"))


async def test_a_fixed_line_is_never_cut_at_a_phrase(make_engine: EngineFactory) -> None:
    """Only an LLM reply's first sentence is cut before a phrase (to speak before it is written); /say is all there."""
    engine, rec = await make_engine(llm=FakeLlm(["We will bake a big apple pie together after the show."]))
    line = "Tonight we play a cozy farming game together after the chat."
    assert engine.say(line)
    await asyncio.wait_for(engine.wait_idle(), 20)
    assert played(rec, engine.records[-1]["turn"]) == [line]
    reply = await chat(engine, "what is the plan?")
    assert played(rec, reply["turn"]) == ["We will bake a big apple pie together", "after the show."]
