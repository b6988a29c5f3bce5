"""NullOutput: real-time pacing, counters, last block for lipsync, and clear() latency; open_output fallback."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from kitsu_tui.audio.base import AudioOutput
from kitsu_tui.audio.outputs import NullOutput, open_output


def _wait_until(predicate: Callable[[], object], timeout: float) -> float:
    """Poll until predicate() is true; return the time it took (or timeout)."""
    started = time.monotonic()
    while not predicate() and time.monotonic() - started < timeout:
        time.sleep(0.002)
    return time.monotonic() - started


def test_null_output_plays_in_real_time() -> None:
    """1.0 s of audio takes 1.0 s (+- 60 ms) to play, and every sample is counted exactly once."""
    out = NullOutput(sample_rate=16000)
    out.start()
    try:
        out.write(np.full(16000, 0.3, dtype=np.float32))
        assert out.queued_samples > 15000
        took = _wait_until(lambda: out.played_samples >= 16000, 3.0)
        time.sleep(0.05)
        assert 0.94 <= took <= 1.06, took
        assert out.played_samples == 16000
        assert out.queued_samples == 0
        assert out.last_block().size == 0  # idle again after the end
    finally:
        out.close()


def test_null_output_halfway_position_and_last_block() -> None:
    """Mid-playback, played_samples tracks wall time and last_block holds the samples being played."""
    out = NullOutput(sample_rate=22050, block_ms=10)
    out.start()
    try:
        ramp = np.linspace(0.0, 1.0, 22050, dtype=np.float32)
        started = time.monotonic()
        out.write(ramp)
        time.sleep(0.5)
        elapsed = time.monotonic() - started
        played = out.played_samples
        assert abs(played / 22050 - elapsed) < 0.05
        block = out.last_block()
        assert 100 <= block.size <= 1000
        assert abs(float(block[-1]) - played / 22050) < 0.03  # the ramp value says where we are
    finally:
        out.close()


def test_null_output_clear_takes_effect_within_one_block() -> None:
    """After clear() playback stops within 20 ms and new audio plays straight after."""
    out = NullOutput(sample_rate=16000, block_ms=10)
    out.start()
    try:
        out.write(np.full(16000 * 5, 0.5, dtype=np.float32))
        time.sleep(0.2)
        dropped = out.clear()
        cleared_at = time.monotonic()
        played_at_clear = out.played_samples
        assert dropped > 16000 * 4
        assert out.queued_samples == 0
        time.sleep(0.1)
        extra = out.played_samples - played_at_clear
        assert extra <= 16000 * 0.020, extra  # at most one block raced the clear
        out.write(np.full(1600, 0.1, dtype=np.float32))
        took = _wait_until(lambda: out.played_samples >= played_at_clear + extra + 1600, 1.0)
        assert 0.08 <= took <= 0.16
        assert time.monotonic() - cleared_at < 1.0
    finally:
        out.close()


def test_null_output_has_no_drift_over_time() -> None:
    """The device clock follows the monotonic clock (not accumulated sleeps): within 15 ms after 1.5 s."""
    out = NullOutput(sample_rate=48000, block_ms=10)
    started = time.monotonic()
    out.start()
    try:
        time.sleep(1.5)
        clock = out.clock_samples / 48000
        assert abs(clock - (time.monotonic() - started)) < 0.015
    finally:
        out.close()


def test_open_output_disabled_falls_back_to_null_with_reason() -> None:
    """play_audio=false gives a started NullOutput satisfying the AudioOutput protocol, and says why."""
    output, reason = open_output(None, 22050, enabled=False)
    try:
        assert isinstance(output, NullOutput)
        assert reason is not None and "play_audio" in reason
        sink: AudioOutput = output
        sink.write(np.ones(441, dtype=np.float32))
        assert _wait_until(lambda: sink.played_samples == 441, 1.0) < 1.0
    finally:
        output.close()
