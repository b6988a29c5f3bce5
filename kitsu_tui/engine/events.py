"""Typed, timestamped events that the engine emits for the TUI, integrations, memory and metrics."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


def now() -> float:
    """Monotonic seconds: the one clock every event and latency figure uses."""
    return time.monotonic()


class Source(StrEnum):
    """Where a turn came from."""

    VOICE = "voice"
    CHAT = "chat"
    OPERATOR = "operator"
    SAY = "say"  # verbatim line typed by the operator: no LLM


class PipelineState(StrEnum):
    """What the pipeline is doing, as shown in the status bar."""

    LOADING = "loading"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"
    MUTED = "muted"
    PANIC = "panic"
    STOPPED = "stopped"


class ModuleState(StrEnum):
    """Lifecycle of a toggleable module (asr, llm, tts, avatar, obs, twitch, memory...)."""

    OFF = "off"
    LOADING = "loading"
    CONNECTING = "connecting"
    ON = "on"
    ERROR = "error"


class SentenceStatus(StrEnum):
    """Where one reply sentence is in the TTS queue."""

    QUEUED = "queued"
    SYNTHESIZING = "synthesizing"
    READY = "ready"
    PLAYING = "playing"
    DONE = "done"
    SKIPPED = "skipped"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every engine event: a monotonic timestamp and the turn it belongs to (0 = none)."""

    ts: float = field(default_factory=now)
    turn_id: int = 0
    #: Lossy events (meters, mouth values) may be dropped by a slow consumer; others may not.
    lossy: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """The event's class name, used as its type tag in JSON."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the type tag first."""
        data = asdict(self)
        data.pop("lossy", None)
        return {"event": self.kind, **data}


# --- engine and modules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineStateChanged(Event):
    """The pipeline moved to a new state (listening, thinking, speaking, paused, muted, panic)."""

    state: PipelineState
    muted: bool = False
    paused: bool = False
    panic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleStateChanged(Event):
    """A module (asr, llm, tts, vad, mic, speaker, avatar, obs, twitch, memory...) changed state."""

    module: str
    state: ModuleState
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StageError(Event):
    """A stage failed; the engine keeps running without it where it can."""

    stage: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """A human-readable notice for the operator (info/warning/error)."""

    level: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonaChanged(Event):
    """The active persona switched."""

    name: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class GpuStat:
    """One NVIDIA GPU's sample."""

    index: int
    name: str
    utilization_pct: float
    memory_used_mb: float
    memory_total_mb: float
    temperature_c: float | None = None
    power_w: float | None = None
    fan_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStatsSampled(Event):
    """Periodic machine sample: process CPU and RSS, and every NVIDIA GPU (empty + reason when none)."""

    cpu_percent: float
    rss_mb: float
    gpus: tuple[GpuStat, ...] = ()
    gpu_status: str = ""
    lossy: bool = field(default=True, init=False, repr=False, compare=False)


# --- listening ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MicLevel(Event):
    """Input level of the microphone (RMS 0..1), emitted at most ~20 Hz."""

    rms: float
    lossy: bool = field(default=True, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(Event):
    """VAD found the start of speech; ts is the first speech frame's time."""

    speech_start: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded(Event):
    """VAD endpointed the utterance; speech_end is when the person actually stopped talking."""

    speech_end: float
    duration_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptPartial(Event):
    """An interim transcript while the person is still talking."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptFinal(Event):
    """The final transcript of an utterance (may be empty when it was noise)."""

    text: str
    asr_ms: float


# --- the turn -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnStarted(Event):
    """A turn begins: its input text, source and author; `arrived` is when its input was complete."""

    source: Source
    text: str
    author: str = ""
    arrived: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRejected(Event):
    """A turn was refused before the LLM (module off, moderation, panic...)."""

    source: Source
    text: str
    reason: str
    author: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModerationDecided(Event):
    """A moderation decision: stage (input/output), action (allow/block/review), the rule, text and its hash."""

    stage: str
    action: str
    rule: str
    text: str
    detail: str = ""
    author: str = ""
    text_hash: str = ""
    """A short hash of the text, so logs and counters can name it without repeating it."""
    ms: float = 0.0
    """How long the check took."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SentenceHeld(Event):
    """A reply sentence waits in the pre-air hold: for review (until approved) or for the broadcast delay."""

    hold_id: int
    index: int
    text: str
    reason: str
    review: bool = False
    release_in_s: float | None = None
    """Seconds until it airs by itself (None: it waits for the operator, then is dumped at the review timeout)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldResolved(Event):
    """A held sentence left the hold: approved or released (spoken), dumped or expired (never spoken)."""

    hold_id: int
    index: int
    action: str
    by: str = "operator"
    text_hash: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MoodChanged(Event):
    """The reply carries a mood (happy, sad, angry, surprised, neutral...) and optional actions."""

    mood: str
    actions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmStarted(Event):
    """The LLM began generating for the turn."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmToken(Event):
    """One streamed piece of LLM output text (raw, before mood tags are stripped)."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LlmFinished(Event):
    """The LLM finished or was stopped; text is everything it generated."""

    text: str
    tokens: int
    ttft_ms: float
    tokens_per_s: float
    stopped: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SentenceQueued(Event):
    """A chunk of reply text entered the TTS queue at position `index` of the turn."""

    index: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SentenceStateChanged(Event):
    """A queued sentence changed status; duration_s is known once synthesized."""

    index: int
    status: SentenceStatus
    duration_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TtsAudioReady(Event):
    """A sentence's audio is synthesized and waiting for playback."""

    index: int
    duration_s: float
    synth_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(Event):
    """The first sample of a sentence reached the output."""

    index: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(Event):
    """A sentence stopped playing, whole or cut; played_text is what was actually heard."""

    index: int
    played_text: str
    interrupted: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MouthUpdated(Event):
    """Lipsync frame (>= 30 Hz while speaking): mouth openness 0..1 and vowel weights A/I/U/E/O."""

    value: float
    vowels: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    lossy: bool = field(default=True, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interrupted(Event):
    """The turn was interrupted (barge-in, skip, panic, operator): queues dropped, playback cut."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCompleted(Event):
    """The turn is over; `record` is the JSON-ready record printed by `kitsu run --headless`."""

    record: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAction(Event):
    """The operator (or a mod command) did something: panic, mute, skip, toggle, scene..."""

    action: str
    detail: str = ""
    by: str = "operator"


@dataclass(frozen=True, slots=True, kw_only=True)
class PanicStepsDone(Event):
    """A module's panic action finished (or failed): the steps it took and how long it took from the panic."""

    module: str
    engaged: bool
    steps: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    error: str = ""
