"""The transcript: what the person said (partials in place), chat, kitsu's spoken lines and operator actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static

from kitsu_tui.tui.text import clean, plain

#: Speaker label -> style of the label.
LABEL_STYLES = {
    "mic": "bold cyan",
    "chat": "bold magenta",
    "operator": "bold yellow",
    "say": "bold yellow",
    "kitsu": "bold green",
    "system": "dim",
    "warning": "bold yellow",
    "error": "bold red",
    "refused": "bold red",
    "action": "bold blue",
}


class Transcript(Vertical):
    """A bounded scrolling log of the conversation plus one line for the live partial transcript."""

    def __init__(self, max_lines: int = 500, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        """A RichLog (markup off) and the partial line."""
        yield RichLog(max_lines=self.max_lines, min_width=20, wrap=True, markup=False, highlight=False,
                      id="transcript-log")
        yield Static("", id="transcript-partial", markup=False)

    def add(self, label: str, text: str, note: str = "", label_style: str = "") -> None:
        """Append one line: a styled label, the untrusted text verbatim, and an optional dim note."""
        line = Text.assemble((f"{clean(label)}: ", label_style or LABEL_STYLES.get(label, "bold")))
        line.append_text(plain(text))
        if note:
            line.append(f"  [{clean(note)}]", style="dim italic")
        self.lines.append(line.plain)
        del self.lines[: -self.max_lines]
        self.query_one("#transcript-log", RichLog).write(line)

    def set_partial(self, text: str) -> None:
        """Show the person's words so far (replaced in place until the final transcript)."""
        partial = Text("… ", style="dim cyan")
        partial.append_text(plain(text, style="italic"))
        self.query_one("#transcript-partial", Static).update(partial if text else "")

    def clear_partial(self) -> None:
        """Hide the partial line."""
        self.query_one("#transcript-partial", Static).update("")
