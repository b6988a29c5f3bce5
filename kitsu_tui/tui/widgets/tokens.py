"""The LLM's raw output for the current turn as it streams, with time to first token and tokens/s."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kitsu_tui.engine.events import LlmFinished, LlmStarted, LlmToken
from kitsu_tui.tui.text import clean

MAX_CHARS = 2000


class TokenStream(Static):
    """Shows the streaming reply text; tokens arrive pre-batched by the bridge (~30 updates/s at most)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", markup=False, id=id, classes=classes)
        self.text = ""
        self.batches = 0
        """LlmToken batches received for this generation (each holds one or more tokens)."""
        self.turn_id = 0
        self.generating = False

    def on_started(self, event: LlmStarted) -> None:
        """A new generation: clear the view."""
        self.text, self.batches, self.turn_id, self.generating = "", 0, event.turn_id, True
        self.border_subtitle = "generating"
        self._render_text()

    def on_tokens(self, event: LlmToken) -> None:
        """Append a batch of tokens."""
        if event.turn_id != self.turn_id:
            self.on_started(LlmStarted(turn_id=event.turn_id))
        self.text = (self.text + clean(event.text, keep_newlines=True))[-MAX_CHARS:]
        self.batches += 1
        self._render_text()

    def on_finished(self, event: LlmFinished) -> None:
        """Show the final figures of the generation."""
        self.generating = False
        stopped = " · stopped" if event.stopped else ""
        self.border_subtitle = f"ttft {event.ttft_ms:.0f} ms · {event.tokens_per_s:.1f} tok/s{stopped}"
        if not self.text and event.text:
            self.text = clean(event.text, keep_newlines=True)[-MAX_CHARS:]
        self._render_text()

    def _render_text(self) -> None:
        body = Text(self.text)
        if self.generating:
            body.append("▍", style="dim")
        self.update(body, layout=False)  # fixed-size panel: no screen re-layout per token batch
