"""The small protocols every model backend implements; all methods are blocking and run on a ModelWorker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""


class BackendError(RuntimeError):
    """A backend cannot load or run; the message is one readable line naming cause and fix."""


@dataclass(frozen=True, slots=True)
class AsrResult:
    """A transcript with its timing."""

    text: str
    no_speech_prob: float = 0.0
    language: str = "en"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of an LLM prompt."""

    role: str  # system | user | assistant
    content: str
    name: str = ""
    """Who wrote a user message (OpenAI's `name` field; chat templates without one ignore it)."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling parameters for one reply."""

    max_tokens: int = 80
    temperature: float = 0.7
    top_p: float = 0.9
    repeat_penalty: float = 1.15
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    mood_tags: tuple[str, ...] = field(default_factory=tuple)
    """When set, the reply opens with one of these as `[mood] ` (forced by backends that can constrain decoding)."""
    avoid: tuple[str, ...] = field(default_factory=tuple)
    """Earlier replies whose word sequences are damped at sampling (backends that can bias logits)."""
    on_message_end: Callable[[float | None], None] | None = field(default=None, compare=False)
    """Called once, on the backend's thread, with P(the user's message ends after its text) read off the reply's own
    prompt (None: it cannot tell), by backends that are a MessageEndReader; the others never call it."""


class VadBackend(Protocol):
    """Speech probability per fixed-size frame at 16 kHz."""

    frame_samples: int

    def load(self) -> None:
        """Load the model (blocking)."""

    def speech_prob(self, frame: Audio) -> float:
        """Probability (0..1) that `frame` (exactly frame_samples long) holds speech."""

    def reset(self) -> None:
        """Forget recurrent state between utterances."""


class TurnModel(Protocol):
    """An end-of-turn model: P(the speaker is done) for an utterance ending in the silence heard so far."""

    def load(self) -> None:
        """Load the model (blocking)."""

    def complete_prob(self, audio: Audio) -> float:
        """P(complete) in 0..1 for 16 kHz mono audio."""


class SentenceModel(Protocol):
    """A text end-of-turn model: P(the sentence ends here) for an early transcript without final punctuation."""

    def load(self) -> None:
        """Load the model (blocking)."""

    def end_prob(self, text: str) -> float:
        """P(the sentence or message ends after `text`) in 0..1."""


class AsrBackend(Protocol):
    """Speech to text on whole utterances (16 kHz mono)."""

    def load(self) -> None:
        """Load the model (blocking)."""

    def transcribe(self, audio: Audio, hotwords: str = "", partial: bool = False) -> AsrResult:
        """Transcribe `audio`; partial=True may trade accuracy for speed."""


class LlmBackend(Protocol):
    """Streaming chat completion."""

    def load(self) -> None:
        """Load the model or check the server (blocking)."""

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams, should_stop: Callable[[], bool]
    ) -> Iterator[str]:
        """Yield text pieces as they are generated; stop early when should_stop() turns True."""

    def warm(self, messages: list[ChatMessage]) -> None:
        """Pre-fill caches with a prompt prefix (for example the system prompt); may do nothing."""

    def probe(self) -> bool:
        """Check within seconds that the LLM answers again (blocking); False or a BackendError when it does not."""


@runtime_checkable
class MessageEndReader(Protocol):
    """An LLM that reads P(the user's message ends here) off its own reply prompt (GenerationParams.on_message_end).

    The sentence endpoint then needs no second model run: the reply's prefill passes the end of the transcript anyway.
    """

    def message_end_ready(self) -> bool:
        """True when stream() will answer on_message_end (the model is loaded and its chat template is known)."""


@runtime_checkable
class AsideCompletion(Protocol):
    """An LLM that can answer a side question (a memory summary) without losing the conversation's cache."""

    def complete_aside(self, messages: list[ChatMessage], params: GenerationParams,
                       should_stop: Callable[[], bool] = ...) -> str:
        """The whole completion; `should_stop` ends it early with the text so far."""


@runtime_checkable
class PromptPrefill(Protocol):
    """An LLM that can read a prompt into its cache ahead of the reply (the words heard while the person still talks)."""

    def prefill(self, messages: list[ChatMessage]) -> int:
        """Read `messages` up to just before the last user message's final word; returns the tokens read (0: none)."""


@runtime_checkable
class LanguageAware(Protocol):
    """An ASR whose spoken language can be switched at run time (a persona switch)."""

    def set_language(self, language: str | None) -> None:
        """Hear `language` from now on (None: detect it)."""


class TtsBackend(Protocol):
    """Text to speech, one chunk at a time; synthesize may be called from several threads."""

    sample_rate: int

    def load(self) -> None:
        """Load the voice (blocking)."""

    def synthesize(self, text: str, speed: float = 1.0) -> Audio:
        """Return the whole chunk's audio."""


@dataclass(slots=True)
class Backends:
    """One backend per stage; call load() on each (on its own worker) before use."""

    vad: VadBackend
    asr: AsrBackend
    llm: LlmBackend
    tts: TtsBackend
    turn: TurnModel | None = None
    """The end-of-turn model ([vad] endpointing = "smart-turn"); None = the transcript decides alone."""
    sentence: SentenceModel | None = None
    """The text end-of-turn model ([vad] endpointing = "sentence"); None = punctuation alone."""
