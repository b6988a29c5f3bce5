"""Module toggles: asr, llm, tts, avatar, obs, twitch, memory (plus any registered module) with live state."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from kitsu_tui.tui.text import clean, shorten

#: Always listed, in this order; modules that register later (vts, vmc...) are appended.
STANDARD_MODULES = ("asr", "llm", "tts", "avatar", "obs", "twitch", "memory")
#: Registered modules that stand in for the standard "avatar" row.
AVATAR_MODULES = ("vts", "vmc")
#: Engine-side state that is shown elsewhere (status bar) and never toggled here.
NOT_LISTED = ("vad", "mic", "speaker")

STATE_STYLES = {"on": "bold green", "off": "dim", "loading": "yellow", "connecting": "yellow", "error": "bold red"}


class ModuleToggles(OptionList):
    """A keyboard-driven list; Enter or Space asks for the highlighted module to be switched."""

    BINDINGS = [Binding("space", "select", "Toggle", show=False)]

    class Toggled(Message):
        """The operator asked to switch `module` on or off."""

        def __init__(self, module: str, on: bool) -> None:
            super().__init__()
            self.module = module
            self.on = on

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.states: dict[str, tuple[str, str]] = {}
        self.toggleable: set[str] = set()

    def on_mount(self) -> None:
        """List the standard modules as off until the engine says otherwise."""
        self._rebuild()

    def names(self) -> list[str]:
        """Rows in display order."""
        registered = [n for n in self.states if n not in STANDARD_MODULES and n not in NOT_LISTED]
        rows = [n for n in STANDARD_MODULES if not (n == "avatar" and any(a in self.states for a in AVATAR_MODULES))]
        if "avatar" not in rows:
            rows[rows.index("obs"):rows.index("obs")] = [n for n in AVATAR_MODULES if n in self.states]
        return rows + [n for n in registered if n not in rows]

    def set_state(self, module: str, state: str, reason: str = "") -> None:
        """Record a module's state and redraw."""
        if module in NOT_LISTED:
            return
        self.states[module] = (state, clean(reason))
        self._rebuild()

    def _prompt(self, name: str) -> Text:
        state, reason = self.states.get(name, ("off", "not set up" if name not in self.toggleable else ""))
        line = Text(f"{name:<10}", style="bold", no_wrap=True, overflow="ellipsis")
        line.append(f"{state:<6}", style=STATE_STYLES.get(state, ""))
        if reason:
            line.append(" " + shorten(reason, 80), style="red" if state == "error" else "dim")
        return line

    def _rebuild(self) -> None:
        highlighted = self.highlighted
        self.clear_options()
        self.add_options([Option(self._prompt(name), id=name) for name in self.names()])
        if highlighted is not None and self.option_count:
            self.highlighted = min(highlighted, self.option_count - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter/Space on a row: ask to flip it."""
        event.stop()
        name = event.option.id or ""
        state = self.states.get(name, ("off", ""))[0]
        self.post_message(self.Toggled(name, on=state not in ("on", "connecting", "loading")))
