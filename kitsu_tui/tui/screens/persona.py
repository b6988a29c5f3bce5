"""The persona picker: the personas found in personas_dir, the active one highlighted."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


def persona_names(personas_dir: Path) -> list[str]:
    """Persona file names (without .toml), sorted."""
    try:
        return sorted(p.stem for p in Path(personas_dir).glob("*.toml"))
    except OSError:
        return []


class PersonaScreen(ModalScreen[str | None]):
    """Pick a persona with the arrows and Enter; Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: list[str], current: str) -> None:
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        """A title and the list."""
        with Vertical(id="persona-box"):
            yield Static("Switch persona (Enter picks, Escape cancels)", markup=False)
            yield OptionList(*[Option(f"{n}  (active)" if n == self.current else n, id=n) for n in self.names],
                             id="persona-list")

    def on_mount(self) -> None:
        """Highlight the next persona after the active one, so Enter cycles."""
        options = self.query_one(OptionList)
        if self.names:
            index = self.names.index(self.current) if self.current in self.names else -1
            options.highlighted = (index + 1) % len(self.names)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter picks."""
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Escape closes without switching."""
        self.dismiss(None)
