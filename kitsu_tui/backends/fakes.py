"""Deterministic backends for engine and UI tests: same protocols, scripted behaviour, no models."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from kitsu_tui.backends.base import AsrResult, Audio, BackendError, ChatMessage, GenerationParams


class FakeVad:
    """Energy VAD: a frame is speech when its RMS exceeds a threshold."""

    frame_samples = 512

    def __init__(self, rms_threshold: float = 0.02) -> None:
        self.rms_threshold = rms_threshold

    def load(self) -> None:
        """Nothing to load."""

    def speech_prob(self, frame: Audio) -> float:
        """1.0 for loud frames, 0.0 for quiet ones."""
        rms = float(np.sqrt(np.mean(np.square(frame)))) if frame.size else 0.0
        return 1.0 if rms > self.rms_threshold else 0.0

    def reset(self) -> None:
        """Stateless."""


class FakeAsr:
    """Returns scripted transcripts in order (or a fixed one), after an optional delay."""

    def __init__(self, transcripts: list[str] | None = None, delay_s: float = 0.0, default: str = "hello kitsu") -> None:
        self.transcripts = list(transcripts or [])
        self.delay_s = delay_s
        self.default = default
        self.calls: list[tuple[int, bool]] = []

    def load(self) -> None:
        """Nothing to load."""

    def transcribe(self, audio: Audio, hotwords: str = "", partial: bool = False) -> AsrResult:
        """Next scripted transcript for finals; partials repeat the upcoming one's first word."""
        self.calls.append((int(audio.size), partial))
        if self.delay_s:
            time.sleep(self.delay_s)
        upcoming = self.transcripts[0] if self.transcripts else self.default
        if partial:
            return AsrResult(text=upcoming.split(" ")[0])
        if self.transcripts:
            return AsrResult(text=self.transcripts.pop(0))
        return AsrResult(text=self.default)


DEFAULT_REPLIES = (
    "Okay! That is fun.", "Ooh, tell me more!", "Snacks make everything better.", "Foxes nap in the sun.",
    "What a great question!", "Let me think about it.", "I love this stream.", "You made me smile.",
    "Wow, really?", "Hehe, you are silly.", "Time for a tiny dance!", "Chat is the coziest place.",
)
"""FakeLlm's replies when it has no script, in turn (twelve, so none comes back within ten replies)."""


class FakeLlm:
    """Streams scripted replies word by word with a per-token delay; can be told to fail once or until further notice."""

    def __init__(
        self,
        replies: list[str] | None = None,
        token_delay_s: float = 0.005,
        fail_with: str | None = None,
        reply_fn: Callable[[list[ChatMessage]], str] | None = None,
        outage: str | None = None,
        probe_result: bool | None = None,
    ) -> None:
        self.replies = list(replies or [])
        self.token_delay_s = token_delay_s
        self.fail_with = fail_with
        """The next reply fails with this message (once)."""
        self.outage = outage
        """While set, every reply and probe fails with this message (a server that is down)."""
        self.probe_result = probe_result
        """What probe() answers whatever the outage (None: it fails while there is one, else True)."""
        self.probes = 0
        """How many times probe() was called."""
        self.reply_fn = reply_fn
        self.prompts: list[list[ChatMessage]] = []
        self.warmed: list[list[ChatMessage]] = []
        self.stopped_early = threading.Event()
        self._defaults = 0

    def load(self) -> None:
        """Nothing to load."""

    def warm(self, messages: list[ChatMessage]) -> None:
        """Remember what would have been cached (tests compare it with the next prompt)."""
        self.warmed.append(list(messages))

    def probe(self) -> bool:
        """Count the call; fail while there is an outage (unless probe_result says otherwise)."""
        self.probes += 1
        if self.probe_result is not None:
            return self.probe_result
        if self.outage:
            raise BackendError(self.outage)
        return True

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams, should_stop: Callable[[], bool]
    ) -> Iterator[str]:
        """Yield the next scripted reply word by word."""
        self.prompts.append(list(messages))
        if self.outage:
            raise BackendError(self.outage)
        if self.fail_with:
            message, self.fail_with = self.fail_with, None
            raise BackendError(message)
        if self.reply_fn is not None:
            reply = self.reply_fn(messages)
        elif self.replies:
            reply = self.replies.pop(0)
        else:  # varied, like a real model: the repetition guard drops a sentence said in the last replies
            reply = DEFAULT_REPLIES[self._defaults % len(DEFAULT_REPLIES)]
            self._defaults += 1
        words = reply.split(" ")
        for i, word in enumerate(words):
            if should_stop():
                self.stopped_early.set()
                return
            if self.token_delay_s:
                time.sleep(self.token_delay_s)
            yield word if i == 0 else " " + word


class FakeTts:
    """Synthesizes a tone whose length follows the text (60 ms per character), with a delay per call."""

    def __init__(self, sample_rate: int = 16000, delay_s: float = 0.0, ms_per_char: float = 60.0,
                 delays: dict[str, float] | None = None) -> None:
        self.sample_rate = sample_rate
        self.delay_s = delay_s
        self.ms_per_char = ms_per_char
        self.delays = delays or {}
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def load(self) -> None:
        """Nothing to load."""

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """A 220 Hz tone, amplitude-modulated like syllables, len(text) * ms_per_char long."""
        with self._lock:
            self.calls.append(text)
        time.sleep(self.delays.get(text, self.delay_s))
        n = max(1, int(self.sample_rate * len(text) * self.ms_per_char / 1000 / speed))
        t = np.arange(n, dtype=np.float32) / self.sample_rate
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        return (0.4 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
