"""The help screen: every key (as configured) and the chat commands."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kitsu_tui.config.settings import KeySettings

ACTIONS = [
    ("panic", "Panic: stop speech, clear LLM/TTS queues, mute mic (press again to clear, with confirmation)"),
    ("mute", "Mute / unmute the microphone"),
    ("skip", "Skip the sentence being spoken"),
    ("pause", "Pause / resume the pipeline"),
    ("family", "Family mode on / off (stricter moderation) for the rest of the show"),
    ("persona", "Switch persona"),
    ("focus_chat", "Focus the chat input"),
    ("approve", "Approve the oldest held sentence (pre-air hold): it is spoken now"),
    ("dump", "Dump the oldest held sentence: never spoken, never stored"),
    ("dump_all", "Dump every held sentence"),
    ("help", "This help"),
    ("quit", "Quit (asks while kitsu is speaking)"),
]
CHAT_HELP = [
    ("text", "A text turn, answered by the LLM"),
    ("/say TEXT", "Speak TEXT verbatim (no LLM)"),
    ("/persona NAME", "Switch to personas/NAME.toml"),
    ("//text", "Send a line that starts with /"),
    ("Tab", "Move between chat, module toggles and the transcript; Enter/Space toggles a module"),
]


def key_label(keys: str) -> str:
    """'f12,ctrl+b' -> 'F12 / Ctrl+B'."""
    return " / ".join("+".join(p.capitalize() if len(p) > 1 else p.upper() for p in k.strip().split("+"))
                      for k in keys.split(","))


class HelpScreen(ModalScreen[None]):
    """A modal table of keys; any of Escape, q or the help key closes it."""

    BINDINGS = [Binding("escape,q,f1", "close", "Close")]

    def __init__(self, keys: KeySettings) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        """Keys, then chat commands."""
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for action, text in ACTIONS:
            table.add_row(key_label(getattr(self.keys, action)), text)
        table.add_row("", "")
        for key, text in CHAT_HELP:
            table.add_row(key, text)
        with VerticalScroll(id="help-box"):
            yield Static("kitsu keys (rebind them in [keys] of kitsu.toml)", id="help-title", markup=False)
            yield Static(table)

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
