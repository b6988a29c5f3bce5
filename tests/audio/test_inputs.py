"""WavFileInput: exact 512-sample frames, real-time pacing, captured_at, silence gaps and the wait-before-next hook."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from kitsu_tui.audio.base import AudioInput, Frame
from kitsu_tui.audio.inputs import WavFileInput
from kitsu_tui.audio.wav import AudioFileError, write_wav

if TYPE_CHECKING:
    from kitsu_tui.backends.tts_piper import PiperTts
    from kitsu_tui.backends.vad_silero import SileroVad


def _write(path: Path, seconds: float, value: float, rate: int = 16000) -> Path:
    """A constant-level file (easy to tell apart from silence)."""
    write_wav(path, np.full(int(rate * seconds), value, dtype=np.float32), rate)
    return path


async def _collect(source: WavFileInput) -> list[Frame]:
    """Read every frame."""
    return [frame async for frame in source.frames()]


async def test_fast_mode_frames_are_exact_and_padded(tmp_path: Path) -> None:
    """Two files (one at 48 kHz) become 512-sample frames: file 1, gap silence, file 2 (zero-padded), trailing silence."""
    first = _write(tmp_path / "a.wav", 0.5, 0.25)
    second = _write(tmp_path / "b.wav", 0.3, 0.5, rate=48000)
    source = WavFileInput([first, second], realtime=False, gap_s=0.256, trailing_silence_s=0.512)
    checked: AudioInput = source  # satisfies the lead's protocol
    assert checked.name == "files: a.wav, b.wav"
    frames = await _collect(source)
    assert all(f.samples.shape == (512,) and f.samples.dtype == np.float32 for f in frames)
    peaks = [float(np.abs(f.samples).max()) for f in frames]
    kinds = "".join(
        "-" if p == 0.0 else "a" if 0.2 < p < 0.3 else "b" if 0.45 < p < 0.6 else "?" for p in peaks
    )
    # 8000 samples -> 16 frames (last padded), 8 gap frames, 4800 samples -> 10 frames, 16 trailing
    assert kinds == "a" * 16 + "-" * 8 + "b" * 10 + "-" * 16
    assert np.count_nonzero(frames[15].samples) == 8000 - 15 * 512
    assert source.files_done == 2
    times = [f.captured_at for f in frames]
    assert times == sorted(times)


async def test_realtime_pacing_follows_the_monotonic_clock(tmp_path: Path) -> None:
    """1 s of audio arrives over ~1 s; each captured_at equals start + samples so far / rate (no sleep drift)."""
    path = _write(tmp_path / "a.wav", 0.768, 0.1)
    source = WavFileInput([path], realtime=True, trailing_silence_s=0.256)
    started = time.monotonic()
    arrivals: list[float] = []
    frames: list[Frame] = []
    async for frame in source.frames():
        arrivals.append(time.monotonic())
        frames.append(frame)
    assert len(frames) == 24 + 8
    total = time.monotonic() - started
    assert 1.0 <= total <= 1.1, total
    steps = np.diff([f.captured_at for f in frames])
    assert np.allclose(steps, 0.032, atol=1e-6)  # exact schedule, not accumulated sleeps
    lateness = np.array(arrivals) - np.array([f.captured_at for f in frames])
    assert lateness.min() >= -0.001 and np.median(lateness) < 0.01


async def test_wait_before_next_holds_the_next_file_and_feeds_silence(tmp_path: Path) -> None:
    """The second file starts only after the hook returns; silence frames keep coming in real time meanwhile."""
    first = _write(tmp_path / "a.wav", 0.128, 0.3)
    second = _write(tmp_path / "b.wav", 0.128, 0.6)
    reply_done = asyncio.Event()
    source = WavFileInput(
        [first, second],
        realtime=True,
        gap_s=0.064,
        trailing_silence_s=0.064,
        wait_before_next=reply_done.wait,
    )
    seen: list[tuple[float, float]] = []

    async def reader() -> None:
        async for frame in source.frames():
            seen.append((time.monotonic(), float(frame.samples.max())))

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.6)  # "kitsu is replying"
    silent_while_waiting = [level for _, level in seen[4:]]
    assert silent_while_waiting and max(silent_while_waiting) == 0.0
    assert len(seen) >= 15  # ~18 frames in 0.6 s: silence keeps flowing so VAD sees the end
    assert source.current_file is None and source.files_done == 1
    released_at = time.monotonic()
    reply_done.set()
    reply_done.clear()  # the next wait (after the last file) must block again
    await asyncio.sleep(0.4)
    loud = [t for t, level in seen if level > 0.5]
    assert len(loud) == 4 and loud[0] >= released_at
    assert not task.done()  # waiting after the last file too
    reply_done.set()
    await asyncio.wait_for(task, 1.0)
    assert source.files_done == 2 and source.wait_timeouts == 0


async def test_wait_is_bounded_by_max_wait(tmp_path: Path) -> None:
    """A hook that never returns is abandoned after max_wait_s and counted, instead of hanging the run."""
    path = _write(tmp_path / "a.wav", 0.064, 0.3)
    never = asyncio.Event()
    source = WavFileInput(
        [path], realtime=False, gap_s=0.0, trailing_silence_s=0.0, wait_before_next=never.wait, max_wait_s=0.2
    )
    started = time.monotonic()
    frames = await _collect(source)
    assert 0.18 <= time.monotonic() - started < 1.0
    assert len(frames) == 2 and source.wait_timeouts == 1


async def test_close_stops_feeding(tmp_path: Path) -> None:
    """close() ends frames() at the next frame."""
    source = WavFileInput([_write(tmp_path / "a.wav", 2.0, 0.2)], realtime=True)
    count = 0
    async for _ in source.frames():
        count += 1
        if count == 3:
            source.close()
    assert count == 3


def test_bad_files_fail_at_construction(tmp_path: Path) -> None:
    """A non-WAV path raises AudioFileError before any frame is produced."""
    bad = tmp_path / "notes.wav"
    bad.write_text("hello")
    with pytest.raises(AudioFileError, match="notes.wav: not a WAV file"):
        WavFileInput([_write(tmp_path / "ok.wav", 0.1, 0.1), bad])
    with pytest.raises(ValueError, match="at least one"):
        WavFileInput([])


@pytest.mark.models
async def test_vad_sees_speech_then_the_gap(tmp_path: Path, real_tts: PiperTts, real_vad: SileroVad) -> None:
    """Piper speech fed through WavFileInput is speech to Silero VAD; the gap silence after it is not."""
    from kitsu_tui.audio.resample import resample

    speech = real_tts.synthesize("Hello Kitsu, how are you doing today?")
    path = tmp_path / "hello.wav"
    write_wav(path, speech, real_tts.sample_rate)
    source = WavFileInput([path], realtime=False, gap_s=0.0, trailing_silence_s=0.64)
    real_vad.reset()
    probs = [real_vad.speech_prob(frame.samples) async for frame in source.frames()]
    speech_frames = resample(speech, real_tts.sample_rate, 16000).size // 512
    assert max(probs[:speech_frames]) > 0.9
    assert max(probs[-10:]) < 0.2
