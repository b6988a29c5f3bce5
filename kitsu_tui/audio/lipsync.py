"""Mouth openness and A/I/U/E/O vowel weights from played audio blocks, cheap enough for ~40 calls a second."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from kitsu_tui.audio.base import Audio

VOWELS = ("A", "I", "U", "E", "O")
"""Order of the vowel weights (VRM / VMC blendshape names)."""

# Rough (F1, F2) centres in Hz, between adult male and female values, for Japanese-style vowels.
_FORMANTS = np.array([(750.0, 1250.0), (300.0, 2250.0), (350.0, 1350.0), (480.0, 1850.0), (500.0, 850.0)])
_SPREAD = np.array([160.0, 420.0])
_FFT_SIZE = 1024


class LipsyncAnalyzer:
    """Turns audio blocks into smoothed (mouth, vowels): RMS in dB with a noise gate, fast open and slow close.

    Openness maps block RMS linearly in dB from `gate_db` (closed) to `full_db` (fully open); with the
    defaults Piper's speech (median block RMS about -25 dBFS) lands at 0.6-1.0. Vowels come from F1/F2
    estimates (power-weighted centroids in formant bands of one FFT) matched to reference formants.
    """

    def __init__(
        self,
        gate_db: float = -45.0,
        full_db: float = -15.0,
        attack_ms: float = 25.0,
        release_ms: float = 90.0,
    ) -> None:
        self.gate_db = gate_db
        self.full_db = full_db
        self.attack_s = attack_ms / 1000.0
        self.release_s = release_ms / 1000.0
        self.mouth = 0.0
        self.vowels = np.zeros(5)
        self._windows: dict[int, Audio] = {}

    def reset(self) -> None:
        """Close the mouth at once (e.g. after an interrupt)."""
        self.mouth = 0.0
        self.vowels[:] = 0.0

    def analyze(self, block: Audio, rate: int) -> tuple[float, tuple[float, float, float, float, float]]:
        """Feed one played block; returns (mouth 0..1, (A, I, U, E, O) weights 0..1 summing to at most mouth)."""
        samples = np.asarray(block, dtype=np.float32).reshape(-1)
        dt = samples.size / rate if samples.size else 0.025
        target = self._openness(samples)
        tau = self.attack_s if target > self.mouth else self.release_s
        self.mouth += (target - self.mouth) * (1.0 - math.exp(-dt / tau))
        if target > 0.0:
            shape = self._vowel_shape(samples, rate) * target
            coeff = 1.0 - math.exp(-dt / self.attack_s)
        else:
            shape = np.zeros(5)
            coeff = 1.0 - math.exp(-dt / self.release_s)
        self.vowels += (shape - self.vowels) * coeff
        total = float(self.vowels.sum())
        if total > self.mouth > 0.0:
            self.vowels *= self.mouth / total
        elif self.mouth <= 0.0:
            self.vowels[:] = 0.0
        a, i, u, e, o = (float(min(1.0, max(0.0, v))) for v in self.vowels)
        return float(min(1.0, max(0.0, self.mouth))), (a, i, u, e, o)

    def _openness(self, samples: Audio) -> float:
        """Gated, dB-scaled RMS of the block mapped to 0..1."""
        if samples.size == 0:
            return 0.0
        rms = float(np.sqrt(np.dot(samples, samples) / samples.size))
        db = 20.0 * math.log10(rms + 1e-12)
        if db <= self.gate_db:
            return 0.0
        return min(1.0, (db - self.gate_db) / (self.full_db - self.gate_db))

    def _window(self, size: int) -> Audio:
        """A cached Hann window for this block length."""
        window = self._windows.get(size)
        if window is None:
            window = np.hanning(size).astype(np.float32)
            self._windows[size] = window
        return window

    def _vowel_shape(self, samples: Audio, rate: int) -> npt.NDArray[np.float64]:
        """Vowel weights (sum 1) from F1/F2 centroids of the block's power spectrum."""
        size = min(samples.size, _FFT_SIZE)
        tail = samples[-size:]
        power = np.abs(np.fft.rfft(tail * self._window(size), n=_FFT_SIZE)) ** 2
        freqs = np.fft.rfftfreq(_FFT_SIZE, 1.0 / rate)
        f1 = _centroid(power, freqs, 250.0, 1000.0)
        f2 = _centroid(power, freqs, max(f1 + 350.0, 800.0), 3000.0)
        if f1 <= 0.0 or f2 <= 0.0:
            return np.zeros(5)
        distance = (((np.array([f1, f2]) - _FORMANTS) / _SPREAD) ** 2).sum(axis=1)
        scores = np.exp(-0.5 * distance)
        total = float(scores.sum())
        if total < 1e-9:
            scores = np.exp(-0.5 * (distance - distance.min()))
            total = float(scores.sum())
        return np.asarray(scores / total, dtype=np.float64)


def _centroid(power: Audio, freqs: Audio, low: float, high: float) -> float:
    """Power-squared-weighted mean frequency in [low, high] (emphasises the band's peak); 0 when empty."""
    band = (freqs >= low) & (freqs <= high)
    weights = power[band] ** 2
    total = float(weights.sum())
    if total <= 0.0:
        return 0.0
    return float((weights * freqs[band]).sum() / total)
