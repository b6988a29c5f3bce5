"""The main screen: lays out the widgets and turns each batch of engine events into widget updates."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from kitsu_tui.engine.events import (
    Event,
    HoldResolved,
    Interrupted,
    LlmFinished,
    LlmStarted,
    LlmToken,
    MicLevel,
    ModerationDecided,
    ModuleStateChanged,
    Notice,
    OperatorAction,
    PersonaChanged,
    PipelineStateChanged,
    PlaybackFinished,
    PlaybackStarted,
    SentenceHeld,
    SentenceQueued,
    SentenceStateChanged,
    Source,
    StageError,
    SystemStatsSampled,
    TranscriptFinal,
    TranscriptPartial,
    TurnCompleted,
    TurnRejected,
    TurnStarted,
)
from kitsu_tui.tui.text import clean
from kitsu_tui.tui.widgets.chat import ChatInput
from kitsu_tui.tui.widgets.hold import HoldPanel
from kitsu_tui.tui.widgets.stats import SystemStats
from kitsu_tui.tui.widgets.status import StatusBar
from kitsu_tui.tui.widgets.toggles import ModuleToggles
from kitsu_tui.tui.widgets.tokens import TokenStream
from kitsu_tui.tui.widgets.transcript import Transcript
from kitsu_tui.tui.widgets.tts_queue import TtsQueue

SOURCE_LABELS = {Source.CHAT: "chat", Source.OPERATOR: "operator", Source.SAY: "say", Source.VOICE: "mic"}


class MainScreen(Screen[None]):
    """Transcript and stream on the left, toggles and stats on the right, status, chat and keys below."""

    class Ready(Message):
        """The main screen's widgets exist: the app may start the engine."""

    def __init__(self, persona: str, transcript_lines: int = 500, sparkline_turns: int = 30) -> None:
        super().__init__()
        self.persona = persona
        self.transcript_lines = transcript_lines
        self.sparkline_turns = sparkline_turns

    def compose(self) -> ComposeResult:
        """Build the layout."""
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Transcript(self.transcript_lines, id="transcript")
                with Horizontal(id="stream-row"):
                    yield TokenStream(id="tokens")
                    yield TtsQueue(id="tts-queue")
            with Vertical(id="right"):
                yield ModuleToggles(id="toggles")
                yield HoldPanel(id="hold")
                yield SystemStats(id="stats")
        yield StatusBar(self.persona, self.sparkline_turns, id="status")
        yield ChatInput(id="chat")
        yield Footer()

    def on_mount(self) -> None:
        """Titles on the bordered panels."""
        titles = {"#transcript": "transcript", "#tokens": "llm", "#tts-queue": "tts queue",
                  "#toggles": "modules", "#stats": "system", "#hold": "pre-air hold"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one(ChatInput).focus()
        self.post_message(self.Ready())

    def note(self, label: str, text: str, note: str = "") -> None:
        """Add a line to the transcript (used by the app for its own messages)."""
        self.query_one(Transcript).add(label, text, note)

    def apply_events(self, events: list[Event]) -> None:
        """Update the widgets for a batch of events, in order."""
        for event in events:
            try:
                self._apply(event)
            except NoMatches:
                return  # the screen is being torn down (quitting): late engine events have nowhere to go

    def _apply(self, event: Event) -> None:  # noqa: C901 - one flat dispatch is the clearest form here
        transcript = self.query_one(Transcript)
        if isinstance(event, LlmToken):
            self.query_one(TokenStream).on_tokens(event)
        elif isinstance(event, MicLevel):
            self.query_one(StatusBar).set_level(event.rms)
        elif isinstance(event, SystemStatsSampled):
            self.query_one(SystemStats).on_sample(event)
        elif isinstance(event, TranscriptPartial):
            transcript.set_partial(event.text)
        elif isinstance(event, TranscriptFinal):
            transcript.clear_partial()
            if event.text.strip():
                transcript.add("mic", event.text, f"asr {event.asr_ms:.0f} ms")
        elif isinstance(event, TurnStarted):
            if event.source != Source.VOICE:
                label = event.author if event.source == Source.CHAT and event.author else SOURCE_LABELS[event.source]
                transcript.add(label, event.text, "" if label == SOURCE_LABELS[event.source] else "chat")
        elif isinstance(event, TurnRejected):
            transcript.add("refused", event.text, event.reason)
            self.app.notify(f"turn refused: {clean(event.reason)}", severity="warning", markup=False)
        elif isinstance(event, ModerationDecided):
            self.query_one(HoldPanel).on_decision(event)
            if event.action != "allow":
                transcript.add("action", f"moderation {event.action} ({event.stage})", f"{event.rule} #{event.text_hash}")
        elif isinstance(event, SentenceHeld):
            self.query_one(HoldPanel).on_held(event)
            if event.review:
                self.app.notify(f"held for review: {clean(event.reason)} (F7 approve, F8 dump)", severity="warning",
                                markup=False)
        elif isinstance(event, HoldResolved):
            self.query_one(HoldPanel).on_resolved(event)
            if event.by != "timer" or event.action != "released":
                transcript.add("action", f"held sentence {event.action}", f"{event.by} #{event.text_hash}")
        elif isinstance(event, LlmStarted):
            self.query_one(TokenStream).on_started(event)
        elif isinstance(event, LlmFinished):
            self.query_one(TokenStream).on_finished(event)
        elif isinstance(event, SentenceQueued):
            self.query_one(TtsQueue).on_queued(event)
        elif isinstance(event, SentenceStateChanged):
            self.query_one(TtsQueue).on_state(event)
        elif isinstance(event, PlaybackStarted):
            self.query_one(TtsQueue).on_playback(event)
        elif isinstance(event, PlaybackFinished):
            self.query_one(TtsQueue).on_playback(event)
            if event.played_text.strip():
                transcript.add("kitsu", event.played_text, "interrupted" if event.interrupted else "")
        elif isinstance(event, Interrupted):
            transcript.add("action", f"interrupted: {event.reason}")
        elif isinstance(event, TurnCompleted):
            latency = event.record.get("latency_ms") or {}
            if not event.record.get("rejected"):
                self.query_one(StatusBar).add_turn(latency)
            if event.record.get("error"):
                transcript.add("error", str(event.record["error"]))
        elif isinstance(event, PipelineStateChanged):
            self.query_one(StatusBar).set_state(str(event.state), event.muted, event.paused, event.panic)
        elif isinstance(event, ModuleStateChanged):
            self._module_state(event)
        elif isinstance(event, OperatorAction):
            transcript.add("action", f"{event.action} {event.detail}".strip(), "" if event.by == "operator" else event.by)
        elif isinstance(event, Notice):
            label = event.level if event.level in ("warning", "error") else "system"
            transcript.add(label, event.message)
            if label != "system":
                self.app.notify(clean(event.message), severity="error" if label == "error" else "warning", markup=False)
        elif isinstance(event, StageError):
            transcript.add("error", f"{event.stage}: {event.message}")
            self.app.notify(f"{clean(event.stage)}: {clean(event.message)}", severity="error", markup=False)
        elif isinstance(event, PersonaChanged):
            self.query_one(StatusBar).set_persona(event.display_name or event.name)
            transcript.add("system", f"persona is now {event.display_name or event.name}")

    def _module_state(self, event: ModuleStateChanged) -> None:
        state = str(event.state)
        if event.module == "mic":
            self.query_one(StatusBar).set_mic("mic" if state == "on" else f"no mic ({event.reason})")
        self.query_one(ModuleToggles).set_state(event.module, state, event.reason)
        if state == "error" and event.module not in ("vad", "asr", "llm", "tts", "mic", "speaker"):
            self.app.notify(f"{event.module}: {clean(event.reason)}", severity="error", markup=False)
