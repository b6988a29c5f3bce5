"""Joining continuations: speech that starts soon after an endpoint goes on from that utterance instead of a new one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kitsu_tui.audio.base import PIPELINE_RATE, Audio

MAX_JOINED_S = 20.0
"""Audio kept from what came before when utterances keep joining (Whisper hears 30 s at most)."""
MAX_GAP_S = 0.5
"""Silence put between the joined halves for ASR (each half already carries its own pauses)."""


@dataclass(frozen=True, slots=True)
class Ended:
    """The last endpointed utterance: its id, its audio (joined, when it was a continuation) and when it ended."""

    utterance_id: int
    audio: Audio
    at: float


class Continuations:
    """Tracks the last utterance and whether new speech continues it (the listener's join bookkeeping).

    `on_continuation(uid)` is asked once the new speech is long enough to count; it takes back the reply to
    utterance `uid` and returns True, or returns False when that reply stands (heard too much, or none).
    `hold_floor(uid, True)` is called as soon as speech starts inside the window (a reply not yet audible
    waits), and `hold_floor(uid, False)` once that speech is decided or turns out to be noise.
    """

    def __init__(self, window_ms: int, on_continuation: Callable[[int], bool] | None,
                 hold_floor: Callable[[int, bool], None] | None = None) -> None:
        self.window_s = window_ms / 1000
        self._ask = on_continuation
        self._hold = hold_floor
        self._last: Ended | None = None
        self._began_at = 0.0
        self._joined: Ended | None = None
        self._holding = 0

    def _in_window(self) -> Ended | None:
        last = self._last
        if last is None or self._ask is None or not self.window_s or not 0 <= self._began_at - last.at <= self.window_s:
            return None
        return last

    def speech_began(self, at: float) -> None:
        """New speech started at `at`: it may continue the last utterance, whose reply must not start meanwhile."""
        self._began_at = at
        self._joined = None
        last = self._in_window()
        if last is not None and self._hold is not None:
            self._holding = last.utterance_id
            self._hold(last.utterance_id, True)

    def release(self) -> None:
        """Let the held reply play (the speech was decided, was noise, or the listener stopped)."""
        if self._holding and self._hold is not None:
            self._hold(self._holding, False)
        self._holding = 0

    def confirm(self) -> None:
        """The new speech is long enough to be a turn: join it to the last utterance when that is allowed."""
        last = self._in_window()
        if last is not None and self._ask is not None and self._ask(last.utterance_id):
            self._joined = last
        self.release()

    @property
    def continues(self) -> int:
        """The utterance the current speech continues (0 = none)."""
        return self._joined.utterance_id if self._joined is not None else 0

    def joined(self, own: Audio) -> Audio:
        """The audio to transcribe: the continued utterance, a short gap, then this speech (or this speech alone)."""
        last = self._joined
        if last is None:
            return own
        gap = np.zeros(int(min(MAX_GAP_S, max(0.0, self._began_at - last.at)) * PIPELINE_RATE), dtype=np.float32)
        before = last.audio[-int(MAX_JOINED_S * PIPELINE_RATE):]  # a chain of continuations stays one Whisper window
        return np.concatenate([before, gap, own])

    def ended(self, utterance_id: int, audio: Audio, at: float, counted: bool) -> int:
        """The current speech was endpointed at `at` with `audio` (already joined); returns what it continues.

        Speech too short to count (noise) neither joins nor moves the window.
        """
        continues = self.continues if counted else 0
        self.release()  # noise, or speech that never counted: the held reply may play
        if counted:
            self._last = Ended(utterance_id, audio, at)
        self._joined = None
        return continues
