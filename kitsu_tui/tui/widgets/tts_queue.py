"""The TTS queue: each reply sentence with its state and duration, the playing one highlighted."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from kitsu_tui.engine.events import PlaybackFinished, PlaybackStarted, SentenceQueued, SentenceStateChanged
from kitsu_tui.tui.text import clean, shorten

#: Short labels so the sentence text keeps most of the width.
STATUS_LABELS = {"synthesizing": "synth", "playing": "PLAYING"}
STATUS_STYLES = {
    "queued": "dim",
    "synthesizing": "yellow",
    "ready": "cyan",
    "playing": "bold reverse green",
    "done": "green",
    "skipped": "magenta",
    "blocked": "bold red",
}


@dataclass
class SentenceRow:
    """One sentence of the current reply as the queue shows it."""

    index: int
    text: str
    status: str = "queued"
    duration_s: float = 0.0
    reason: str = ""


class TtsQueue(Static):
    """Renders the sentences of the current (or last) turn."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", markup=False, id=id, classes=classes)
        self.turn_id = 0
        self.rows: dict[int, SentenceRow] = {}

    def _for_turn(self, turn_id: int) -> None:
        if turn_id != self.turn_id:
            self.turn_id = turn_id
            self.rows = {}

    def on_queued(self, event: SentenceQueued) -> None:
        """A sentence entered the queue."""
        self._for_turn(event.turn_id)
        self.rows[event.index] = SentenceRow(event.index, clean(event.text))
        self._render_rows()

    def on_state(self, event: SentenceStateChanged) -> None:
        """A sentence changed state."""
        row = self.rows.get(event.index) if event.turn_id == self.turn_id else None
        if row is None:
            return
        row.status = str(event.status)
        row.duration_s = event.duration_s or row.duration_s
        row.reason = clean(event.reason)
        self._render_rows()

    def on_playback(self, event: PlaybackStarted | PlaybackFinished) -> None:
        """Playback began or ended: mark the row playing or done/skipped."""
        row = self.rows.get(event.index) if event.turn_id == self.turn_id else None
        if row is None:
            return
        if isinstance(event, PlaybackStarted):
            row.status = "playing"
        elif row.status == "playing":
            row.status = "skipped" if event.interrupted else "done"
        self._render_rows()

    def _render_rows(self) -> None:
        out = Text()
        for i, row in enumerate(sorted(self.rows.values(), key=lambda r: r.index)):
            if i:
                out.append("\n")
            style = STATUS_STYLES.get(row.status, "")
            duration = f"{row.duration_s:4.1f}s" if row.duration_s else "  -  "
            out.append(f"{STATUS_LABELS.get(row.status, row.status):<8}", style=style)
            out.append(f"{duration} ", style="dim")
            detail = f"{row.text} ({row.reason})" if row.reason else row.text
            out.append(shorten(detail, 300), style="reverse" if row.status == "playing" else "")
        self.update(out if self.rows else Text("empty", style="dim"), layout=False)
        self.border_subtitle = f"{sum(r.status in ('queued', 'synthesizing', 'ready') for r in self.rows.values())} waiting"
