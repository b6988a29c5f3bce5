"""The voice path on fakes: frames -> VAD endpointing -> partial/final ASR -> a voice turn, in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from kitsu_tui.audio.inputs import WavFileInput
from kitsu_tui.audio.wav import write_wav
from kitsu_tui.backends.base import AsrResult, Audio, ChatMessage
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm

from .conftest import EngineFactory, make_settings


def burst_wav(path: Path, speech_s: float, rate: int = 16000) -> Path:
    """A 'spoken' tone burst between short silences."""
    t = np.arange(int(speech_s * rate)) / rate
    speech = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    silence = np.zeros(int(0.2 * rate), np.float32)
    write_wav(path, np.concatenate([silence, speech, silence]), rate)
    return path


async def test_voice_turn_event_order(make_engine: EngineFactory, tmp_path: Path) -> None:
    asr = FakeAsr(["hello kitsu how are you?"])
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 1.8)], realtime=True, trailing_silence_s=1.0)
    engine, rec = await make_engine(asr=asr, llm=FakeLlm(["I am great, thanks for asking!"]), inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    kinds = [k for k in rec.kinds() if k in ("SpeechStarted", "TranscriptPartial", "SpeechEnded",
                                             "TranscriptFinal", "TurnStarted", "PlaybackStarted", "TurnCompleted")]
    assert kinds[0] == "SpeechStarted"
    assert "TranscriptPartial" in kinds and kinds.index("TranscriptPartial") < kinds.index("SpeechEnded")
    # the reply starts during the endpointing silence (speculative), but is heard only after the endpoint
    assert kinds.index("TurnStarted") < kinds.index("SpeechEnded")
    after = kinds[kinds.index("SpeechEnded"):]  # one PlaybackStarted per chunk: "I am great," then the rest
    assert [k for i, k in enumerate(after) if i == 0 or k != after[i - 1]] == [
        "SpeechEnded", "TranscriptFinal", "PlaybackStarted", "TurnCompleted"]
    assert rec.of("PlaybackStarted")[0].ts >= rec.of("SpeechEnded")[0].ts
    record = engine.records[-1]
    assert record["source"] == "voice" and record["transcript"] == "hello kitsu how are you?"
    ended = rec.of("SpeechEnded")[0]
    assert 1.5 < ended.duration_s < 2.2
    lat = record["latency_ms"]
    # endpointing waits for the configured silence; speculative ASR already ran during it
    assert 350 <= lat["endpointing"] <= 600
    # audio never before the endpoint; both are stamped on the capture clock, which is one 32 ms block coarse
    assert lat["first_audio"] >= lat["endpointing"] - 35
    assert any(partial for size, partial in asr.calls) and any(not partial for size, partial in asr.calls)


async def test_short_noise_is_not_a_turn(make_engine: EngineFactory, tmp_path: Path) -> None:
    source = WavFileInput([burst_wav(tmp_path / "click.wav", 0.1)], realtime=True, trailing_silence_s=0.8)
    engine, rec = await make_engine(inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 10)
    assert not rec.of("SpeechStarted") and not engine.records


async def test_muted_mic_hears_nothing(make_engine: EngineFactory, tmp_path: Path) -> None:
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 1.0)], realtime=True, lead_in_s=0.3)
    engine, rec = await make_engine(inputs=[source])
    engine.set_muted(True)
    await asyncio.wait_for(engine.wait_inputs_done(), 10)
    assert not rec.of("SpeechStarted") and not engine.records


def two_bursts_wav(path: Path, gap_s: float, rate: int = 16000) -> Path:
    """Speech, a pause shorter than the endpointing silence, more speech."""
    t = np.arange(int(0.9 * rate)) / rate
    speech = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    gap = np.zeros(int(gap_s * rate), np.float32)
    write_wav(path, np.concatenate([gap, speech, gap, speech, gap]), rate)
    return path


async def test_speculative_reply_is_discarded_when_the_person_goes_on(make_engine: EngineFactory, tmp_path: Path) -> None:
    asr = FakeAsr(["first half", "first half and the rest"])
    source = WavFileInput([two_bursts_wav(tmp_path / "two.wav", 0.25)], realtime=True, trailing_silence_s=1.0)
    engine, rec = await make_engine(asr=asr, llm=FakeLlm(["Reply to the half.", "Reply to all of it."]),
                                    inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    assert [e.reason for e in rec.of("Interrupted")] == ["speech went on"]
    assert len(rec.of("SpeechEnded")) == 1, "one utterance despite the pause"
    assert [r["transcript"] for r in engine.records] == ["first half and the rest"]
    assert engine.records[0]["spoken"] == "Reply to all of it."
    heard = [e.text for e in rec.of("PlaybackStarted")]
    assert heard == ["Reply to all of it."], "the discarded reply was never heard"
    assert all("half." not in text for _, text in engine.conversation.history)


async def test_unfinished_sentence_waits_longer_before_answering(make_engine: EngineFactory, tmp_path: Path) -> None:
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 1.0)], realtime=True, trailing_silence_s=1.5)
    engine, rec = await make_engine(asr=FakeAsr(["so I was thinking,"]), inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    endpointing = engine.records[-1]["latency_ms"]["endpointing"]
    extra = engine.settings.vad.unfinished_extra_ms
    assert endpointing >= engine.settings.vad.end_silence_ms + extra - 40, endpointing


class PrefillLlm(FakeLlm):
    """A FakeLlm that also takes prompts ahead of the reply, noting what it was given and when."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__(replies)
        self.prefilled: list[tuple[float, list[ChatMessage]]] = []

    def prefill(self, messages: list[ChatMessage]) -> int:
        """Note the prompt; a real model would read it into its cache."""
        self.prefilled.append((time.monotonic(), list(messages)))
        return len(messages)


class WordyPartials(FakeAsr):
    """Partials give the upcoming transcript's first three words (enough for a prefill)."""

    def transcribe(self, audio: Audio, hotwords: str = "", partial: bool = False) -> AsrResult:
        if partial and self.transcripts:
            self.calls.append((int(audio.size), partial))
            return AsrResult(text=" ".join(self.transcripts[0].split()[:3]))
        return super().transcribe(audio, hotwords, partial)


async def test_partial_transcripts_are_read_ahead_while_the_person_talks(make_engine: EngineFactory,
                                                                       tmp_path: Path) -> None:
    """Each partial heard mid-speech goes to the LLM as the conversation plus the words so far, before the speech
    ends; the reply then comes from the final transcript as usual."""
    llm = PrefillLlm(["I am great, thanks for asking!"])
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 2.4)], realtime=True, trailing_silence_s=1.0)
    engine, rec = await make_engine(asr=WordyPartials(["hello kitsu how are you?"]), llm=llm, inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    assert llm.prefilled, "no partial was read ahead"
    ended = rec.of("SpeechEnded")[0].ts
    for at, messages in llm.prefilled:
        assert at < ended
        assert messages[0].role == "system" and messages[-1] == ChatMessage("user", "hello kitsu")  # last word left
    assert engine.records[-1]["transcript"] == "hello kitsu how are you?"
    assert engine.records[-1]["spoken"] == "I am great, thanks for asking!"


async def test_partials_are_not_read_ahead_when_switched_off(make_engine: EngineFactory, tmp_path: Path) -> None:
    llm = PrefillLlm(["Okay!"])
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 2.4)], realtime=True, trailing_silence_s=1.0)
    engine, _ = await make_engine(asr=WordyPartials(["hello kitsu how are you?"]), llm=llm, inputs=[source],
                                  settings=make_settings(prefill_partials=False))
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    assert not llm.prefilled and engine.records[-1]["spoken"] == "Okay!"


async def test_a_speculative_reply_with_nothing_to_say_still_answers_after_the_endpoint(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    """The speculative reply came back empty (a mood tag alone): it is asked for again, and the turn ends only
    after its endpoint, answered, instead of being recorded silent ahead of the utterance it answers."""
    asr = FakeAsr(["what should I name my new cat?"])
    source = WavFileInput([burst_wav(tmp_path / "a.wav", 1.5)], realtime=True, trailing_silence_s=1.0)
    llm = FakeLlm(["[neutral]", "[happy] Call it Pancake!"])
    engine, rec = await make_engine(asr=asr, llm=llm, inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    assert [r["spoken"] for r in engine.records] == ["Call it Pancake!"]
    record = engine.records[0]
    assert "endpointing" in record["latency_ms"] and record["endpoint_rule"]
    assert rec.of("TurnCompleted")[0].ts >= rec.of("SpeechEnded")[0].ts


async def test_an_empty_speculative_reply_leaves_no_record_when_the_person_goes_on(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    asr = FakeAsr(["first half", "first half and the rest"])
    source = WavFileInput([two_bursts_wav(tmp_path / "two.wav", 0.25)], realtime=True, trailing_silence_s=1.0)
    llm = FakeLlm(["[neutral]", "[neutral]", "Reply to all of it."], token_delay_s=0.0)
    engine, _ = await make_engine(asr=asr, llm=llm, inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 15)
    await asyncio.wait_for(engine.wait_idle(), 15)
    assert [r["transcript"] for r in engine.records] == ["first half and the rest"]
    assert engine.records[0]["spoken"] == "Reply to all of it."
