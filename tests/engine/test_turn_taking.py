"""Turn-taking: the endpointing rules (transcript cue, turn model) and joining a continuation, on the real Engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.inputs import WavFileInput
from kitsu_tui.audio.wav import write_wav
from kitsu_tui.backends.base import AsrResult, Audio, ChatMessage, GenerationParams
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts
from kitsu_tui.config.settings import Settings, VadSettings
from kitsu_tui.engine.continuation import Continuations
from kitsu_tui.engine.endpoint import Cue, required_silence_ms, transcript_cue
from kitsu_tui.engine.pausejoin import join_tail, lost_words, stopped_at_pause

from .conftest import EngineFactory, make_settings

RATE = 16000


@pytest.mark.parametrize(("text", "cue"), [
    ("Can you recommend a cozy game for a rainy Sunday?", Cue.FINISHED),
    ("I made pancakes shaped like foxes today!", Cue.FINISHED),
    ("What are you talking about?", Cue.FINISHED),  # a question may end on a preposition
    ("Which season do you like the most and why?", Cue.FINISHED),
    ("Do you remember the song...", Cue.UNFINISHED),
    ("So I was thinking…", Cue.UNFINISHED),
    ("Hello Kitsu,", Cue.UNFINISHED),
    ("My friend told me that", Cue.UNFINISHED),
    ("I have a question about", Cue.UNFINISHED),
    ("Yesterday my neighbour knocked on the door and.", Cue.UNFINISHED),  # Whisper's full stop after "and"
    ("I was thinking that maybe tomorrow", Cue.UNSURE),
    ("tell me a joke about foxes", Cue.UNSURE),
    ("", Cue.UNSURE),
    ("Hi.", Cue.FINISHED),
])
def test_transcript_cue(text: str, cue: Cue) -> None:
    assert transcript_cue(text) is cue


def test_required_silence_follows_transcript_then_model() -> None:
    vad = VadSettings(end_silence_ms=400, unfinished_extra_ms=600, unsure_extra_ms=250, turn_check_ms=200)
    assert required_silence_ms(vad, None, None) == 400
    assert required_silence_ms(vad, Cue.FINISHED, None) == 400
    assert required_silence_ms(vad, Cue.UNSURE, None) == 650
    assert required_silence_ms(vad, Cue.UNFINISHED, None) == 1000
    assert required_silence_ms(vad, Cue.FINISHED, 0.9) == 200  # both agree: end at the model's check
    assert required_silence_ms(vad, Cue.FINISHED, 0.1) == 400
    assert required_silence_ms(vad, Cue.UNSURE, 0.9) == 400
    assert required_silence_ms(vad, Cue.UNSURE, 0.1) == 1000
    assert required_silence_ms(vad, Cue.UNFINISHED, 0.99) == 1000  # the model never cuts a trailing-off sentence
    assert required_silence_ms(vad, None, 0.9) == 400 and required_silence_ms(vad, None, 0.1) == 650


def test_the_sentence_model_settles_unsure_and_checks_finished_transcripts() -> None:
    vad = VadSettings(end_silence_ms=400, unfinished_extra_ms=450, unsure_extra_ms=250,
                      sentence_threshold=0.2, sentence_low=0.02, sentence_sure=0.3, sentence_margin_ms=150)
    assert required_silence_ms(vad, Cue.UNSURE, None, 0.5) == 400  # "tell me a joke about foxes": a sentence
    assert required_silence_ms(vad, Cue.UNSURE, None, 0.25) == 550  # a sentence, not surely: a little longer
    assert required_silence_ms(vad, Cue.FINISHED, None, 0.25) == 550
    assert required_silence_ms(vad, Cue.FINISHED, 0.9, 0.25) == 200  # the turn model's "complete" still ends it
    assert required_silence_ms(vad, Cue.UNSURE, None, 0.1) == 650  # not sure either way: the unsure wait
    assert required_silence_ms(vad, Cue.UNSURE, None, 0.01) == 850  # "the best part of the": the cap
    assert required_silence_ms(vad, Cue.UNSURE, None, None) == 650  # still reading: the unsure wait
    assert required_silence_ms(vad, Cue.UNFINISHED, None, 0.9) == 850  # never shortens a trailing-off transcript
    assert required_silence_ms(vad, Cue.FINISHED, None, 0.6) == 400  # "Tell me a joke about foxes."
    assert required_silence_ms(vad, Cue.FINISHED, None, 0.1) == 650  # a full stop Whisper put at a pause
    assert required_silence_ms(vad, Cue.FINISHED, None, 0.001) == 850  # "I was thinking that maybe tomorrow."
    assert required_silence_ms(vad, Cue.FINISHED, None, None) == 400  # no verdict (yet): the full stop stands
    assert required_silence_ms(vad, None, None, 0.9) == 400


def test_continuations_join_only_inside_the_window_and_when_allowed() -> None:
    asked: list[int] = []
    allow = [True]

    def ask(uid: int) -> bool:
        asked.append(uid)
        return allow[0]

    join = Continuations(3000, ask)
    first = np.ones(RATE, np.float32)
    assert join.ended(1, first, at=10.0, counted=True) == 0
    join.speech_began(11.0)
    join.confirm()
    assert asked == [1] and join.continues == 1
    own = np.full(RATE // 2, 2.0, np.float32)
    joined = join.joined(own)
    assert joined.size == first.size + RATE // 2 + own.size  # 0.5 s gap at most between the halves
    assert joined[0] == 1.0 and joined[-1] == 2.0 and not joined[first.size:first.size + RATE // 2].any()
    assert join.ended(2, joined, at=13.0, counted=True) == 1
    join.speech_began(17.0)  # 4 s later: a new turn
    join.confirm()
    assert asked == [1] and join.continues == 0 and join.joined(own) is own
    join.ended(3, own, at=18.0, counted=True)
    allow[0] = False
    join.speech_began(18.5)
    join.confirm()
    assert asked == [1, 3] and join.continues == 0
    assert join.ended(4, own, at=19.0, counted=False) == 0  # noise: no join, window unchanged
    assert Continuations(0, ask).continues == 0


def speech(seconds: float) -> Audio:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def halves_wav(path: Path, pause_s: float) -> Path:
    """Two bursts of 'speech' with a pause between them longer than the base endpointing silence."""
    silence = np.zeros(int(0.2 * RATE), np.float32)
    write_wav(path, np.concatenate([silence, speech(0.9), np.zeros(int(pause_s * RATE), np.float32), speech(0.9)]), RATE)
    return path


async def run_halves(make_engine: EngineFactory, tmp_path: Path, pause_s: float, tts: FakeTts,
                     settings: Settings | None = None) -> tuple[list[dict[str, object]], FakeAsr, list[str]]:
    asr = FakeAsr(["I was thinking that maybe tomorrow.", "I was thinking that maybe tomorrow we could play."])
    source = WavFileInput([halves_wav(tmp_path / "halves.wav", pause_s)], realtime=True, trailing_silence_s=2.0)
    engine, rec = await make_engine(asr=asr, llm=FakeLlm(["Tomorrow sounds fun!", "Yes, let us play the horror game!"]),
                                    tts=tts, inputs=[source], settings=settings)
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    return list(engine.records), asr, [e.reason for e in rec.of("Interrupted")]


async def test_a_continuation_takes_back_an_unheard_reply(make_engine: EngineFactory, tmp_path: Path) -> None:
    """The person goes on before the reply is heard: it leaves no trace, and the joined words are answered."""
    records, asr, reasons = await run_halves(make_engine, tmp_path, 0.55, FakeTts(delay_s=0.6))  # audio due at ~0.7 s
    assert [r["transcript"] for r in records] == ["I was thinking that maybe tomorrow we could play."]
    assert records[0]["continues"] and records[0]["spoken"] == "Yes, let us play the horror game!"
    assert "continued" in reasons
    finals = [size for size, partial in asr.calls if not partial]
    assert finals[-1] >= int(1.8 * RATE), "the answer was transcribed from both halves' audio"


async def test_a_continuation_cuts_a_reply_heard_briefly(make_engine: EngineFactory, tmp_path: Path) -> None:
    """The reply had begun: it is interrupted (what was heard is kept) and the joined words answered."""
    records, _, reasons = await run_halves(make_engine, tmp_path, 0.9, FakeTts())
    assert [r["transcript"] for r in records] == ["I was thinking that maybe tomorrow.",
                                                  "I was thinking that maybe tomorrow we could play."]
    assert records[0]["interrupted"] and not records[0]["continues"]
    assert records[1]["continues"] and "continued" in reasons


async def test_no_join_when_the_window_is_off(make_engine: EngineFactory, tmp_path: Path) -> None:
    settings = make_settings(join_window_ms=0)
    records, _, reasons = await run_halves(make_engine, tmp_path, 0.9, FakeTts(), settings)
    assert "continued" not in reasons
    assert all(not r["continues"] for r in records)


class ScriptedTurnModel:
    """Stands in for the Smart Turn ONNX model: a fixed P(complete), with the audio lengths it was asked about."""

    def __init__(self, prob: float) -> None:
        self.prob = prob
        self.asked: list[int] = []

    def load(self) -> None:
        """Nothing to load."""

    def complete_prob(self, audio: Audio) -> float:
        self.asked.append(int(audio.size))
        return self.prob


def one_burst(path: Path) -> Path:
    write_wav(path, np.concatenate([np.zeros(int(0.2 * RATE), np.float32), speech(1.0)]), RATE)
    return path


@pytest.mark.parametrize(("text", "prob", "low", "high"), [
    ("Can you recommend a game?", 0.9, 150, 340),  # finished + model says complete: ends at turn_check_ms
    ("Can you recommend a game?", 0.1, 350, 560),  # the model disagrees: the base silence
    ("I was thinking that maybe tomorrow", 0.1, 750, 1000),  # unsure + incomplete: the cap (800 ms)
])
async def test_turn_model_settles_the_endpoint(make_engine: EngineFactory, tmp_path: Path, text: str, prob: float,
                                               low: float, high: float) -> None:
    model = ScriptedTurnModel(prob)
    source = WavFileInput([one_burst(tmp_path / "one.wav")], realtime=True, trailing_silence_s=2.0)
    engine, _ = await make_engine(asr=FakeAsr([text]), inputs=[source], turn=model)
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    record = engine.records[-1]
    assert low <= record["latency_ms"]["endpointing"] <= high, record
    assert model.asked and model.asked[0] >= RATE, "the model heard the utterance"
    assert "model" in str(record["endpoint_rule"])


class ScriptedSentenceModel:
    """Stands in for the GGUF sentence model: a fixed P(the sentence ends), with the texts it was asked about."""

    def __init__(self, prob: float) -> None:
        self.prob = prob
        self.asked: list[str] = []

    def load(self) -> None:
        """Nothing to load."""

    def end_prob(self, text: str) -> float:
        self.asked.append(text)
        return self.prob


@pytest.mark.parametrize(("text", "prob", "low", "high", "asked"), [
    ("tell me a joke about foxes", 0.6, 350, 560, True),  # unsure, but a sentence: the base silence
    ("I was thinking that maybe tomorrow", 0.005, 950, 1200, True),  # unsure and hanging: the cap
    ("Can you recommend a game?", 0.6, 350, 560, True),  # a full stop the model agrees with: the base silence
    ("I was thinking that maybe tomorrow.", 0.005, 950, 1200, True),  # a full stop Whisper put at a pause: the cap
    ("so I was thinking about", 0.9, 950, 1200, False),  # trailing off: the cap; the model is not asked
])
async def test_sentence_model_settles_an_early_transcript(
        make_engine: EngineFactory, tmp_path: Path, text: str, prob: float, low: float, high: float,
        asked: bool) -> None:
    model = ScriptedSentenceModel(prob)
    settings = make_settings().with_values({"vad.unfinished_extra_ms": 600, "vad.unsure_extra_ms": 250})
    source = WavFileInput([one_burst(tmp_path / "one.wav")], realtime=True, trailing_silence_s=2.0)
    engine, _ = await make_engine(asr=FakeAsr([text]), inputs=[source], sentence=model, settings=settings)
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    record = engine.records[-1]
    assert low <= record["latency_ms"]["endpointing"] <= high, record
    assert model.asked == ([text] if asked else []), model.asked
    assert ("sentence" in str(record["endpoint_rule"])) is asked


class ReadingLlm(FakeLlm):
    """FakeLlm that, like LlamaLlm, reads P(the message ends) off its prompt: a fixed value, or None (cannot tell)."""

    def __init__(self, prob: float | None) -> None:
        super().__init__(["Sure thing, let me think."])
        self.prob = prob
        self.read: list[str] = []

    def message_end_ready(self) -> bool:
        return True

    def stream(self, messages: list[ChatMessage], params: GenerationParams,
               should_stop: Callable[[], bool]) -> Iterator[str]:
        if params.on_message_end is not None:
            self.read.append(messages[-1].content)
            params.on_message_end(self.prob)
        yield from super().stream(messages, params, should_stop)


@pytest.mark.parametrize(("text", "prob", "low", "high", "rule", "model_asked"), [
    ("tell me a joke about foxes", 0.6, 350, 560, "reply 0.60", False),  # the reply's prompt says: a sentence
    ("I was thinking that maybe tomorrow", 0.005, 950, 1200, "reply 0.01", False),  # hanging: the cap
    ("tell me a joke about foxes", None, 350, 560, "sentence 0.60", True),  # the LLM cannot tell: the model is asked
])
async def test_the_reply_prompt_gives_the_sentence_verdict(
        make_engine: EngineFactory, tmp_path: Path, text: str, prob: float | None, low: float, high: float,
        rule: str, model_asked: bool) -> None:
    """Under the sentence rule the speculative reply's prefill reads P(the message ends): no second model run
    beside it; the sentence model answers only when the LLM cannot tell."""
    model, llm = ScriptedSentenceModel(0.6), ReadingLlm(prob)
    settings = make_settings().with_values(
        {"vad.endpointing": "sentence", "vad.unfinished_extra_ms": 600, "vad.unsure_extra_ms": 250})
    source = WavFileInput([one_burst(tmp_path / "one.wav")], realtime=True, trailing_silence_s=2.0)
    engine, _ = await make_engine(llm=llm, asr=FakeAsr([text]), inputs=[source], sentence=model, settings=settings)
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    record = engine.records[-1]
    assert low <= record["latency_ms"]["endpointing"] <= high, record
    assert rule in str(record["endpoint_rule"]), record["endpoint_rule"]
    assert llm.read == [text]
    assert model.asked == ([text] if model_asked else []), model.asked
    assert record["transcript"] == text and record["spoken"], record


async def test_a_click_after_the_endpoint_only_delays_the_reply(make_engine: EngineFactory, tmp_path: Path) -> None:
    """Noise soon after the endpoint holds the unheard reply until it is known to be noise; then it plays whole."""
    silence = np.zeros(int(0.2 * RATE), np.float32)
    clip = np.concatenate([silence, speech(0.9), np.zeros(int(0.55 * RATE), np.float32), speech(0.1)])
    source = WavFileInput([write_wav(tmp_path / "click.wav", clip, RATE)], realtime=True,
                          trailing_silence_s=2.5)
    engine, rec = await make_engine(asr=FakeAsr(["Can you recommend a game?"]), llm=FakeLlm(["Try Celeste!"]),
                                    tts=FakeTts(delay_s=0.6), inputs=[source])
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    assert [r["transcript"] for r in engine.records] == ["Can you recommend a game?"]
    assert engine.records[0]["spoken"] == "Try Celeste!" and not engine.records[0]["interrupted"]
    assert not rec.of("Interrupted")


class PauseDroppingAsr(FakeAsr):
    """Stands in for Whisper stopping at a pause: it "hears" a 200 Hz first half and a 300 Hz second half, and the
    whole utterance's transcript, like tiny.en's at times, ends where the pause began."""

    def __init__(self, whole: str = "Is it true?", head: str = "Is it true that") -> None:
        super().__init__()
        self.whole, self.head = whole, head

    def transcribe(self, audio: Audio, hotwords: str = "", partial: bool = False) -> AsrResult:
        self.calls.append((int(audio.size), partial))
        spectrum = np.abs(np.fft.rfft(audio))
        freqs = np.fft.rfftfreq(audio.size, 1 / RATE)
        floor = 0.1 * spectrum.max(initial=0.0) + 1e-6
        low = spectrum[(freqs > 195) & (freqs < 205)].max(initial=0.0) > floor
        high = spectrum[(freqs > 295) & (freqs < 305)].max(initial=0.0) > floor
        if partial:
            return AsrResult(text="")
        if low and high:
            return AsrResult(text=self.whole)
        return AsrResult(text=self.head if low else "once stayed up for two whole days?" if high else "")


def two_tone_wav(path: Path, pause_s: float) -> Path:
    """A first half at 200 Hz, a pause, and a second half at 300 Hz (the double ASR tells them apart)."""
    t = np.arange(int(0.9 * RATE)) / RATE
    first, second = ((0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (200, 300))
    gap, lead = np.zeros(int(pause_s * RATE), np.float32), np.zeros(int(0.2 * RATE), np.float32)
    write_wav(path, np.concatenate([lead, first, gap, second]), RATE)
    return path


async def run_two_tones(make_engine: EngineFactory, tmp_path: Path, asr: PauseDroppingAsr,
                        tail_check_ms: int = 250) -> list[dict[str, object]]:
    settings = make_settings().with_values({"asr.tail_check_ms": tail_check_ms})
    source = WavFileInput([two_tone_wav(tmp_path / "two.wav", 0.55)], realtime=True, trailing_silence_s=2.0)
    engine, _ = await make_engine(asr=asr, llm=FakeLlm(["Yes, two whole days!"]), inputs=[source], settings=settings)
    await asyncio.wait_for(engine.wait_inputs_done(), 20)
    await asyncio.wait_for(engine.wait_idle(), 20)
    return list(engine.records)


async def test_a_transcript_that_stopped_at_the_pause_gets_the_words_after_it(make_engine: EngineFactory,
                                                                               tmp_path: Path) -> None:
    """Whisper's transcript of the whole utterance ends at the pause: the part after it is transcribed alone and added,
    so the reply answers the whole question, in one turn."""
    asr = PauseDroppingAsr()
    records = await run_two_tones(make_engine, tmp_path, asr)
    assert [r["transcript"] for r in records] == ["Is it true? once stayed up for two whole days?"]
    tail_calls = [size for size, partial in asr.calls if not partial and size < 1.3 * RATE]
    assert tail_calls, "the tail was transcribed alone"


async def test_a_garbled_head_still_lets_the_lost_words_be_found(make_engine: EngineFactory, tmp_path: Path) -> None:
    """The early transcript in the pause came out as one word ("Is"), so it cannot show that the whole transcript
    stopped there; three words for 1.8 s of speech can (too few words a second), and the tail is added."""
    records = await run_two_tones(make_engine, tmp_path, PauseDroppingAsr(head="Is"))
    assert [r["transcript"] for r in records] == ["Is it true? once stayed up for two whole days?"]


async def test_a_whole_transcript_is_kept_and_no_tail_is_transcribed(make_engine: EngineFactory,
                                                                      tmp_path: Path) -> None:
    """When the whole transcript went on past the pause, it stands, and nothing more is transcribed."""
    whole = "Is it true that you once stayed up for two whole days?"
    asr = PauseDroppingAsr(whole)
    records = await run_two_tones(make_engine, tmp_path, asr)
    assert [r["transcript"] for r in records] == [whole]
    heads = sum(1 for size, partial in asr.calls if not partial and size < 1.6 * RATE)
    assert heads == 1, asr.calls  # the early transcript in the pause, and no tail


async def test_the_tail_check_can_be_turned_off(make_engine: EngineFactory, tmp_path: Path) -> None:
    records = await run_two_tones(make_engine, tmp_path, PauseDroppingAsr(), tail_check_ms=0)
    assert [r["transcript"] for r in records] == ["Is it true?"]


@pytest.mark.parametrize(("whole", "head", "stopped"), [
    ("is it true Mario?", "is it true that yo", True),  # the whole utterance's transcript ends at the pause
    ("OK, real question.", "Okay, real question.", True),
    ("No, no,", "The way I hear in Canada, us...", True),  # fewer words than the head: lost, not longer
    ("I can have an event tomorrow so we can play", "I can have an event tomorrow so", False),
    ("Anything at all", "", False),  # no head transcript: nothing to compare
])
def test_a_transcript_stopped_at_the_pause(whole: str, head: str, stopped: bool) -> None:
    assert stopped_at_pause(whole, head) is stopped


@pytest.mark.parametrize(("whole", "voiced_s", "lost"), [
    ("is it true Mario?", 2.68, True),  # held-out item 26: Whisper stopped at the pause
    ("No no", 3.04, True),
    ("is it true that you once stayed up for two whole days", 2.68, False),
    ("What time does the stream usually end?", 2.95, False),  # 2.4 words a second: a slow voice, nothing lost
    ("Anything", 0.0, False),  # no voiced time known: nothing to compare
])
def test_too_few_words_for_the_speech_means_words_were_lost(whole: str, voiced_s: float, lost: bool) -> None:
    assert lost_words(whole, voiced_s) is lost


@pytest.mark.parametrize(("whole", "tail", "joined"), [
    ("is it true Mario?", "Once stayed up for the old days.", "is it true Mario? Once stayed up for the old days."),
    ("Right our fox ears, so big.", "So big...", None),  # the whole transcript already holds the tail
    ("Do you think robot swimmer? Right good songs.", "Right Good songs.", None),
    ("Is it true?", "uh", None),  # one word: a breath or a filler is not added
    ("Is it true?", "", None),
])
def test_the_tail_is_added_only_when_it_is_new(whole: str, tail: str, joined: str | None) -> None:
    assert join_tail(whole, tail) == joined
