"""Measure load times and per-call latencies of the real backends: `.venv/bin/python -m tests.backends.bench_backends`."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import soxr

from kitsu_tui.backends.asr_whisper import WhisperAsr
from kitsu_tui.backends.base import ChatMessage, GenerationParams
from kitsu_tui.backends.llm_llama import LlamaLlm
from kitsu_tui.backends.tts_piper import PiperTts
from kitsu_tui.backends.vad_silero import SileroVad

SYSTEM = ChatMessage(
    "system",
    "You are Kitsu, a cheerful fox VTuber streaming games. Keep replies to one or two short sentences, "
    "playful and family friendly. You love snacks, retro games and your chat.",
)


R = TypeVar("R")


def timed(fn: Callable[[], R]) -> tuple[float, R]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_of(fn: Callable[[], object], runs: int) -> float:
    """Median seconds over `runs` calls (also recorded as best-of in BEST, for a busy shared machine)."""
    times = [timed(fn)[0] for _ in range(runs)]
    BEST.append(min(times))
    return statistics.median(times)


BEST: list[float] = []
"""Fastest run of each median_of() call, printed as 'best' beside the median."""


def best() -> str:
    """The best-of figure of the last median_of() call, in ms."""
    return f"(best {BEST[-1] * 1000:.0f} ms)"


def bench_tts() -> tuple[PiperTts, np.ndarray]:
    """Piper: load, first chunk of a short sentence, real-time factor, two threads vs one."""
    load_s, _ = timed(lambda: PiperTts().load())
    tts = PiperTts()
    tts.load()  # the second load (files cached) is what a restart costs
    print(f"tts  load first {load_s:.2f} s, again {timed(lambda: PiperTts().load())[0]:.2f} s")
    print(f"tts  short sentence ('Hi chat!') {median_of(lambda: tts.synthesize('Hi chat!'), 5) * 1000:.0f} ms {best()}")
    sentence = "Hello Kitsu, how are you today?"
    seconds = median_of(lambda: tts.synthesize(sentence), 5)
    audio = tts.synthesize(sentence)
    print(f"tts  '{sentence}' {seconds * 1000:.0f} ms for {audio.shape[0] / tts.sample_rate:.2f} s audio "
          f"(RTF {seconds / (audio.shape[0] / tts.sample_rate):.2f})")
    pair = ["The fox jumps over the log and lands softly.", "Chat, are you ready for the boss fight tonight?"]
    for threads in (1, 2):
        bench_tts_threads(threads, pair)
    return tts, np.asarray(soxr.resample(audio, tts.sample_rate, 16000), dtype=np.float32)


def bench_tts_threads(threads: int, pair: list[str]) -> None:
    """Two sentences on one Piper voice with `threads` intra-op threads: one after the other, then on 2 threads."""
    voice = PiperTts(intra_threads=threads)
    voice.load()
    sequential = median_of(lambda: [voice.synthesize(t) for t in pair], 3)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = median_of(lambda: list(pool.map(voice.synthesize, pair)), 3)
    print(f"tts  intra_op_threads={threads}: two sentences sequential {sequential * 1000:.0f} ms, "
          f"on 2 threads {parallel * 1000:.0f} ms")


def bench_asr(clip: np.ndarray) -> None:
    """Whisper tiny.en: load, final and partial transcription of a ~2 s clip, silence."""
    asr = WhisperAsr()
    load_s, _ = timed(asr.load)
    print(f"asr  load {load_s:.2f} s (includes warm-up calls)")
    final = median_of(lambda: asr.transcribe(clip, "Kitsu"), 5)
    final_best = best()
    partial = median_of(lambda: asr.transcribe(clip, "Kitsu", partial=True), 5)
    partial_best = best()
    silence = median_of(lambda: asr.transcribe(np.zeros(32000, dtype=np.float32), "Kitsu"), 3)
    print(f"asr  {clip.shape[0] / 16000:.2f} s clip: final {final * 1000:.0f} ms {final_best} "
          f"('{asr.transcribe(clip, 'Kitsu').text}'), partial {partial * 1000:.0f} ms {partial_best} "
          f"('{asr.transcribe(clip, 'Kitsu', partial=True).text}'), 2 s silence {silence * 1000:.0f} ms")


def bench_vad(clip: np.ndarray) -> None:
    """Silero: load and per-frame cost."""
    vad = SileroVad()
    load_s, _ = timed(vad.load)
    frames = clip[: clip.shape[0] // 512 * 512].reshape(-1, 512)
    per_frame = median_of(lambda: [vad.speech_prob(f) for f in frames], 5) / frames.shape[0]
    print(f"vad  load {load_s * 1000:.0f} ms, {per_frame * 1000:.3f} ms per 32 ms frame")


def first_token(llm: LlamaLlm, messages: list[ChatMessage]) -> tuple[float, float, int]:
    """(time to first piece, pieces per second after it, pieces) for one streamed reply."""
    started = time.perf_counter()
    first = 0.0
    count = 0
    for _ in llm.stream(messages, GenerationParams(max_tokens=64, temperature=0.7), lambda: False):
        count += 1
        if count == 1:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return first, (count - 1) / max(total - first, 1e-6), count


def bench_llm() -> None:
    """SmolLM2: load, first token cold vs after warm(system prompt), tokens per second."""
    llm = LlamaLlm()
    load_s, _ = timed(llm.load)
    print(f"llm  load {load_s:.2f} s")
    questions = ["Hi Kitsu! What's up?", "What game should we play tonight?", "Do you like pizza?"]
    for question in questions:
        assert llm._llm is not None
        llm._llm.reset()  # forget the KV cache: a cold prompt
        cold, rate, _ = first_token(llm, [SYSTEM, ChatMessage("user", question)])
        llm._llm.reset()
        warm_s, _ = timed(lambda: llm.warm([SYSTEM]))
        warm, _, _ = first_token(llm, [SYSTEM, ChatMessage("user", question)])
        print(f"llm  TTFT cold {cold * 1000:.0f} ms, after warm() {warm * 1000:.0f} ms "
              f"(warm() itself {warm_s * 1000:.0f} ms); {rate:.0f} tokens/s")


def main() -> None:
    """Run every benchmark once and print one line per figure."""
    _, clip = bench_tts()
    bench_vad(clip)
    bench_asr(clip)
    bench_llm()


if __name__ == "__main__":
    main()
