"""The embedded models end to end: Piper speaks, Whisper hears it back, Silero detects it, SmolLM2 streams."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soxr

from kitsu_tui.backends.base import ChatMessage, GenerationParams

if TYPE_CHECKING:
    from kitsu_tui.backends.asr_whisper import WhisperAsr
    from kitsu_tui.backends.llm_llama import LlamaLlm
    from kitsu_tui.backends.tts_piper import PiperTts
    from kitsu_tui.backends.vad_silero import SileroVad

pytestmark = pytest.mark.models

SENTENCE = "Hello Kitsu, how are you today?"


@pytest.fixture(scope="module")
def spoken(real_tts: PiperTts) -> np.ndarray:
    """SENTENCE spoken by Piper, resampled to 16 kHz for VAD and ASR."""
    audio = real_tts.synthesize(SENTENCE)
    return np.asarray(soxr.resample(audio, real_tts.sample_rate, 16000), dtype=np.float32)


def test_piper_speaks_the_sentence(real_tts: PiperTts) -> None:
    audio = real_tts.synthesize(SENTENCE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert real_tts.sample_rate == 22050
    seconds = audio.shape[0] / real_tts.sample_rate
    assert 1.0 < seconds < 4.0
    assert 0.3 < float(np.abs(audio).max()) <= 1.0
    slower = real_tts.synthesize(SENTENCE, speed=0.5)
    assert slower.shape[0] > 1.5 * audio.shape[0]
    assert real_tts.synthesize("   ").shape == (0,)


def test_piper_is_safe_from_two_threads(real_tts: PiperTts) -> None:
    texts = ["The fox jumps over the log.", "Chat, are you ready for the boss fight?"] * 2
    alone = [real_tts.synthesize(t).shape[0] for t in texts[:2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(real_tts.synthesize, texts))
    for audio, expected in zip(together, alone * 2, strict=True):
        assert audio.dtype == np.float32 and abs(audio.shape[0] - expected) < 0.2 * expected


def test_whisper_hears_piper(real_asr: WhisperAsr, spoken: np.ndarray) -> None:
    result = real_asr.transcribe(spoken, hotwords="Kitsu")
    words = result.text.lower()
    assert "kitsu" in words and "how are you" in words and "today" in words
    assert result.no_speech_prob < 0.5 and result.language == "en"
    partial = real_asr.transcribe(spoken, hotwords="Kitsu", partial=True)
    assert "how are you" in partial.text.lower()


def test_whisper_says_nothing_on_silence_or_noise(real_asr: WhisperAsr) -> None:
    silence = np.zeros(32000, dtype=np.float32)
    noise = (np.random.default_rng(7).standard_normal(32000) * 0.01).astype(np.float32)
    for clip in (silence, noise):
        for partial in (False, True):
            result = real_asr.transcribe(clip, hotwords="Kitsu", partial=partial)
            assert result.text == "", (partial, result)
            assert result.no_speech_prob > 0.5


def test_silero_separates_speech_from_silence(real_vad: SileroVad, spoken: np.ndarray) -> None:
    real_vad.reset()
    frames = spoken[: spoken.shape[0] // 512 * 512].reshape(-1, 512)
    probs = [real_vad.speech_prob(frame) for frame in frames]
    assert max(probs) > 0.9 and float(np.mean(np.array(probs) > 0.5)) > 0.5
    real_vad.reset()
    silent = [real_vad.speech_prob(np.zeros(512, dtype=np.float32)) for _ in range(30)]
    assert max(silent) < 0.1
    started = time.perf_counter()
    for frame in frames[:50]:
        real_vad.speech_prob(frame)
    assert (time.perf_counter() - started) / 50 < 0.005  # ~0.2 ms measured; generous for a busy machine


def test_smollm2_streams_and_honours_stop(real_llm: LlamaLlm) -> None:
    messages = [
        ChatMessage("system", "You are Kitsu, a cheerful fox VTuber. Answer in one or two short sentences."),
        ChatMessage("user", "Hi Kitsu! What is your favourite snack?"),
    ]
    real_llm.warm(messages[:1])
    pieces = list(real_llm.stream(messages, GenerationParams(max_tokens=40, temperature=0.0), lambda: False))
    assert len(pieces) > 3 and "".join(pieces).strip()
    stop = threading.Event()
    seen: list[str] = []

    def should_stop() -> bool:
        return stop.is_set()

    for piece in real_llm.stream(messages, GenerationParams(max_tokens=60, temperature=0.0), should_stop):
        seen.append(piece)
        if len(seen) == 3:
            stop.set()
    assert len(seen) == 3


def test_aside_completion_leaves_the_conversation_cache_as_it_was(real_llm: LlamaLlm) -> None:
    """A memory summary in between does not change the next reply nor make it re-read the conversation."""
    conversation = [
        ChatMessage("system", "You are Kitsu, a cheerful fox VTuber. Answer in one short sentence."),
        ChatMessage("user", "What do foxes like to eat?"),
    ]
    params = GenerationParams(max_tokens=24, temperature=0.0)
    before = "".join(real_llm.stream(conversation, params, lambda: False))
    llm = real_llm._llm
    cached_tokens, cached_ids = llm.n_tokens, llm.input_ids[: llm.n_tokens].copy()
    summary = real_llm.complete_aside(
        [ChatMessage("system", "Summarize in one line."), ChatMessage("user", "Chat talked about snacks and tails.")],
        GenerationParams(max_tokens=16, temperature=0.0),
    )
    assert summary.strip()
    assert llm.n_tokens == cached_tokens and (llm.input_ids[:cached_tokens] == cached_ids).all()
    assert "".join(real_llm.stream(conversation, params, lambda: False)) == before


def test_prompt_longer_than_context_is_one_line_error() -> None:
    pytest.importorskip("llama_cpp")
    from kitsu_tui.backends.base import BackendError
    from kitsu_tui.backends.llm_llama import LlamaLlm

    small = LlamaLlm(n_ctx=256)
    small.load()
    long_prompt = [ChatMessage("user", "fox " * 600)]
    with pytest.raises(BackendError) as exc:
        list(small.stream(long_prompt, GenerationParams(max_tokens=8), lambda: False))
    assert "n_ctx" in str(exc.value) and "\n" not in str(exc.value)


def test_a_long_sentence_leaves_no_lasting_memory(real_tts: PiperTts) -> None:
    """Piper warms its onnxruntime arena with the longest chunk at load: a long sentence later adds no memory."""
    from kitsu_tui.engine.heap import trim_heap

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

    for _ in range(3):
        real_tts.synthesize("Oh hi there, how are you?")
    trim_heap()
    before = rss_mb()
    real_tts.synthesize(("The quick brown fox jumps over the lazy dog and keeps running far away. " * 4)[:300])
    trim_heap()
    assert rss_mb() - before < 40, (before, rss_mb())  # unwarmed, the arena grew ~120 MB here for good
    # Digits spell out: 135 characters, 383 phonemes, 18 s of audio. In one ONNX call this added 157 MB for good.
    audio = real_tts.synthesize("In 2026 we reached 1,234,567 followers, 98.6 percent of them said 12:45 pm on "
                                "03/12/2026 was the best time, and 4,321 of you typed 777!", 1.1)
    trim_heap()
    assert audio.size / real_tts.sample_rate > 12  # every piece was spoken
    assert rss_mb() - before < 40, (before, rss_mb())


def test_piper_runs_without_a_memory_pattern(real_tts: PiperTts) -> None:
    """The voice's session plans no one-block memory pattern per input shape (its arena then stops growing)."""
    session = real_tts._voice.session if real_tts._voice is not None else None
    assert session is not None
    assert session.get_session_options().enable_mem_pattern is False


def test_two_workers_synthesizing_at_once_leave_no_lasting_memory(real_tts: PiperTts) -> None:
    """The TTS workers' ONNX calls take turns: two long sentences at once need no second arena block for good."""
    from kitsu_tui.engine.heap import trim_heap

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

    pair = ["Well, I was thinking about the stream we had last night, and honestly I would love to try that whole "
            "route again tomorrow with everyone",
            "Okay chat, here is the plan for the boss fight: we dodge left, we jump twice, and then we hit it with "
            "everything we have got left in the tank"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(real_tts.synthesize, pair))  # the pool's threads get their malloc arenas
        trim_heap()
        before = rss_mb()
        for _ in range(3):
            audio = list(pool.map(real_tts.synthesize, pair))
            assert all(a.size / real_tts.sample_rate > 4 for a in audio)
    trim_heap()
    assert rss_mb() - before < 25, (before, rss_mb())  # calls at once: +22 and +61 MB more (measured)


def test_phonemes_are_cut_after_a_word_and_lose_nothing() -> None:
    from kitsu_tui.backends.tts_piper import split_phonemes

    sentence = list("hˈɛloʊ ðɛɹ hˌaʊ ɑːɹ juː tədˈeɪ maɪ fɹˈɛnd")
    pieces = split_phonemes(sentence, 16)
    assert [p for piece in pieces for p in piece] == sentence
    assert all(len(piece) <= 16 for piece in pieces) and len(pieces) > 1
    assert all(piece[-1] == " " for piece in pieces[:-1])  # each cut falls after a word
    assert split_phonemes(sentence, 0) == [sentence] and split_phonemes([], 16) == []
    assert split_phonemes(list("x" * 40), 16) == [list("x" * 16), list("x" * 16), list("x" * 8)]  # no space: hard cuts
