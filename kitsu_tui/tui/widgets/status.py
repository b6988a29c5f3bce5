"""The status bar: persona, pipeline state, mic level, last turn's per-stage latency and a first-audio sparkline."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from kitsu_tui.tui.text import clean, shorten

STATE_STYLES = {
    "loading": "bold yellow", "listening": "bold green", "thinking": "bold cyan", "speaking": "bold magenta",
    "paused": "bold yellow", "muted": "bold yellow", "panic": "bold white on red", "stopped": "dim",
}
METER_CELLS = 8
BLOCKS = " ▁▂▃▄▅▆▇█"


def meter(level: float, cells: int = METER_CELLS) -> str:
    """A bar for a 0..1 level (RMS is scaled so normal speech fills most of it)."""
    filled = min(1.0, max(0.0, level) * 6.0) * cells
    whole = int(filled)
    part = BLOCKS[int((filled - whole) * (len(BLOCKS) - 1))].strip() if whole < cells else ""
    return ("█" * whole + part).ljust(cells, "·")[:cells]


def _ms(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else "-"


class StatusBar(Horizontal):
    """One line at the bottom: everything the operator checks at a glance."""

    def __init__(self, persona: str, sparkline_turns: int = 30, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.persona = clean(persona)
        self.state = "loading"
        self.flags: tuple[bool, bool, bool] = (False, False, False)
        self.level = 0.0
        self.mic = "mic ?"
        self.latency: dict[str, Any] = {}
        self.first_audio: list[float] = []
        self.sparkline_turns = sparkline_turns

    def compose(self) -> ComposeResult:
        """The text part and the sparkline."""
        yield Static("", id="status-text", markup=False)
        yield Sparkline([], id="status-spark")

    def on_mount(self) -> None:
        """Draw the initial state."""
        self.refresh_text()

    def set_state(self, state: str, muted: bool, paused: bool, panic: bool) -> None:
        """The pipeline state changed."""
        self.state, self.flags = state, (muted, paused, panic)
        self.refresh_text()

    def set_level(self, rms: float) -> None:
        """New mic level."""
        self.level = rms
        self.refresh_text()

    def set_mic(self, text: str) -> None:
        """Describe the microphone (name, or why there is none)."""
        self.mic = clean(text)
        self.refresh_text()

    def set_persona(self, name: str) -> None:
        """The persona switched."""
        self.persona = clean(name)
        self.refresh_text()

    def add_turn(self, latency: dict[str, Any]) -> None:
        """A turn completed: show its latencies and add first_audio to the sparkline."""
        self.latency = latency
        first = latency.get("first_audio")
        if isinstance(first, int | float):
            self.first_audio = [*self.first_audio, float(first)][-self.sparkline_turns:]
            self.query_one("#status-spark", Sparkline).data = self.first_audio
        self.refresh_text()

    def refresh_text(self) -> None:
        """Redraw the text part."""
        muted, paused, panic = self.flags
        out = Text(shorten(self.persona, 14), style="bold")
        out.append(" │ ")
        out.append(f" {self.state.upper()} ", style=STATE_STYLES.get(self.state, "bold"))
        if muted and self.state != "muted":
            out.append(" muted", style="yellow")
        if paused and self.state != "paused":
            out.append(" paused", style="yellow")
        out.append(" │ ")
        if self.mic.startswith("no mic"):
            out.append("no mic", style="bold red")
        else:
            out.append("mic ")
            out.append(meter(0.0 if muted or panic else self.level), style="green")
        lat = self.latency
        if lat:
            out.append(" │ ")
            out.append(f"asr {_ms(lat.get('asr_final'))} llm {_ms(lat.get('llm_first_token'))} "
                       f"tts {_ms(lat.get('tts_first_audio'))} → {_ms(lat.get('first_audio'))} ms", style="dim")
        self.query_one("#status-text", Static).update(out, layout=False)
