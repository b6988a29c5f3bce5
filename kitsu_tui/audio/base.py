"""Protocols for audio inputs (mic, WAV files) and outputs (speakers, real-time null sink)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""

PIPELINE_RATE = 16000
"""Rate of every frame an AudioInput yields (what VAD and ASR want)."""


class AudioDeviceError(RuntimeError):
    """A device is missing or cannot be opened; str() is one readable line naming cause and fix."""


class AudioDeviceLost(AudioDeviceError):
    """A device that was playing vanished (unplugged, sink removed, sound server gone); str() says why."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A block of captured audio at PIPELINE_RATE and the monotonic time its last sample arrived."""

    samples: Audio
    captured_at: float


class AudioInput(Protocol):
    """A source of mono 16 kHz frames (microphone or WAV files fed in real time)."""

    name: str

    def frames(self) -> AsyncIterator[Frame]:
        """Yield frames until the source ends or close() is called."""

    def close(self) -> None:
        """Stop capturing."""


class AudioOutput(Protocol):
    """A sink that plays samples from a ring buffer in real time (device or null sink)."""

    name: str
    sample_rate: int

    def start(self) -> None:
        """Open the stream; raises AudioDeviceError with a readable line."""

    def write(self, samples: Audio) -> None:
        """Append samples (at sample_rate) to the play buffer; never blocks; raises AudioDeviceLost once lost."""

    def clear(self) -> int:
        """Drop everything not yet played (used by interrupts); returns samples dropped."""

    @property
    def played_samples(self) -> int:
        """Samples actually output since start (monotonic counter)."""

    @property
    def queued_samples(self) -> int:
        """Samples written but not yet played."""

    def last_block(self) -> Audio:
        """A copy of the most recently played block (for lipsync); empty when idle."""

    @property
    def error(self) -> str | None:
        """Why the device is not playing now (lost, stalled), or None while it plays."""

    def reopen(self) -> None:
        """Open the same device again after a loss (blocks: call it off the event loop); AudioDeviceError while gone."""

    def close(self) -> None:
        """Stop the stream."""
