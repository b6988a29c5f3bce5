"""LipsyncAnalyzer: openness follows an amplitude-modulated tone, closes on silence, vowels follow formants."""

from __future__ import annotations

import time

import numpy as np

from kitsu_tui.audio.lipsync import VOWELS, LipsyncAnalyzer

RATE = 22050
BLOCK = 441  # 20 ms


def _blocks(signal: np.ndarray) -> list[np.ndarray]:
    """Cut into 20 ms blocks."""
    return [signal[i : i + BLOCK].astype(np.float32) for i in range(0, signal.size - BLOCK + 1, BLOCK)]


def test_mouth_rises_and_falls_with_amplitude_modulation() -> None:
    """A 200 Hz tone gated on/off every 250 ms opens the mouth on the loud half and closes it on the quiet half."""
    t = np.arange(RATE * 2) / RATE
    envelope = ((t % 0.5) < 0.25).astype(float) * 0.25
    signal = envelope * np.sin(2 * np.pi * 200 * t)
    analyzer = LipsyncAnalyzer()
    mouth = np.array([analyzer.analyze(b, RATE)[0] for b in _blocks(signal)])
    phase = ((np.arange(mouth.size) + 1) * BLOCK / RATE) % 0.5  # time of each block's end within a period
    assert mouth[(phase >= 0.06) & (phase < 0.25)].min() > 0.8  # -15 dBFS RMS: fully open after the attack
    assert mouth[phase >= 0.42].max() < 0.2  # closed again late in each quiet half
    loud_half = (phase > 0.0) & (phase <= 0.25)
    assert np.corrcoef(mouth, loud_half)[0, 1] > 0.7  # smoothing lags a little
    crossings = np.diff((mouth > 0.5).astype(int), prepend=0)
    assert (crossings == 1).sum() == 4 and (crossings == -1).sum() == 4


def test_attack_is_faster_than_release() -> None:
    """The mouth opens to half within ~30 ms but needs longer to close to half."""
    analyzer = LipsyncAnalyzer()
    loud = (0.25 * np.sin(2 * np.pi * 200 * np.arange(BLOCK) / RATE)).astype(np.float32)
    silent = np.zeros(BLOCK, dtype=np.float32)
    opened = [analyzer.analyze(loud, RATE)[0] for _ in range(10)]
    closed = [analyzer.analyze(silent, RATE)[0] for _ in range(20)]
    blocks_to_open = next(i for i, m in enumerate(opened) if m > 0.5)
    blocks_to_close = next(i for i, m in enumerate(closed) if m < 0.5)
    assert blocks_to_open <= 1 and blocks_to_close >= 3
    assert closed[-1] < 0.05


def test_noise_gate_keeps_the_mouth_shut() -> None:
    """Low-level hiss (-55 dBFS) never opens the mouth and yields zero vowel weights."""
    rng = np.random.default_rng(1)
    analyzer = LipsyncAnalyzer()
    for _ in range(50):
        mouth, vowels = analyzer.analyze((rng.standard_normal(BLOCK) * 0.0018).astype(np.float32), RATE)
    assert mouth == 0.0 and vowels == (0.0, 0.0, 0.0, 0.0, 0.0)


def _vowel_like(f1: float, f2: float) -> np.ndarray:
    """A buzzy 120 Hz voice with harmonics boosted around two formants."""
    t = np.arange(RATE) / RATE
    signal = np.zeros_like(t)
    for k in range(1, 30):
        f = 120.0 * k
        gain = np.exp(-(((f - f1) / 90.0) ** 2)) + 0.7 * np.exp(-(((f - f2) / 120.0) ** 2)) + 0.02
        signal += gain * np.sin(2 * np.pi * f * t)
    peak = float(np.abs(signal).max())
    return 0.2 * signal / peak


def test_vowel_weights_follow_formants() -> None:
    """Synthetic A (F1 750/F2 1250), I (300/2250) and O (500/850) each win their own weight, summing to <= mouth."""
    for expected, (f1, f2) in {"A": (750, 1250), "I": (300, 2250), "O": (500, 850)}.items():
        analyzer = LipsyncAnalyzer()
        for block in _blocks(_vowel_like(f1, f2)):
            mouth, vowels = analyzer.analyze(block, RATE)
        assert VOWELS[int(np.argmax(vowels))] == expected, (expected, vowels)
        assert sum(vowels) <= mouth + 1e-6
        assert all(0.0 <= v <= 1.0 for v in vowels)


def test_analyze_is_cheap() -> None:
    """One 20 ms block costs well under a millisecond on average (it runs ~40-50 times a second)."""
    analyzer = LipsyncAnalyzer()
    block = (0.2 * np.sin(2 * np.pi * 220 * np.arange(BLOCK) / RATE)).astype(np.float32)
    started = time.perf_counter()
    for _ in range(400):
        analyzer.analyze(block, RATE)
    per_call = (time.perf_counter() - started) / 400
    assert per_call < 0.001, per_call
