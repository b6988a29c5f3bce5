"""A test double exposing the Engine API the integrations use, built on the real EventBus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import ModuleState, ModuleStateChanged, Source


@dataclass
class MoodAction:
    """Stand-in for persona.moods values (expression / hotkey / vmc blendshapes)."""

    expression: str | None = None
    hotkey: str | None = None
    vmc: dict[str, float] = field(default_factory=dict)


@dataclass
class PersonaDouble:
    """A persona with a moods mapping."""

    name: str = "kitsu"
    moods: dict[str, MoodAction] = field(default_factory=dict)


class EngineDouble:
    """Records commands and module states; emits ModuleStateChanged on the real bus like the Engine does."""

    def __init__(self, persona: Any = None) -> None:
        self.bus = EventBus()
        self.persona = persona or PersonaDouble()
        self.states: list[tuple[str, ModuleState, str]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.gates: dict[str, Callable[[], str | None]] = {}
        self.submitted: list[tuple[str, Source, str]] = []

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and emit."""
        self.states.append((name, state, reason))
        self.bus.emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def add_speech_gate(self, name: str, gate: Callable[[], str | None]) -> None:
        """Remember the gate."""
        self.gates[name] = gate

    def gate_reason(self) -> str | None:
        """What the engine would check before speaking."""
        for gate in self.gates.values():
            reason = gate()
            if reason:
                return reason
        return None

    def moderate_input(self, text: str, source: Source, author: str = "") -> None:
        """Like an Engine with moderation turned off (tests/integrations/test_twitch_show.py uses the real one)."""
        return None

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "", decision: Any = None,
                    origin: str = "") -> bool:
        """Record a submitted turn."""
        self.submitted.append((text, source, author))
        return True

    def skip(self) -> None:
        """Record."""
        self.calls.append(("skip",))

    def panic(self) -> None:
        """Record."""
        self.calls.append(("panic",))

    def clear_panic(self) -> None:
        """Record."""
        self.calls.append(("clear_panic",))

    def set_muted(self, muted: bool) -> None:
        """Record."""
        self.calls.append(("set_muted", muted))

    async def toggle_module(self, name: str, on: bool) -> None:
        """Record."""
        self.calls.append(("toggle_module", name, on))

    async def switch_persona(self, name: str) -> None:
        """Record."""
        self.calls.append(("switch_persona", name))

    def last_state(self, name: str) -> tuple[ModuleState, str] | None:
        """The latest (state, reason) reported by module `name`."""
        for module, state, reason in reversed(self.states):
            if module == name:
                return state, reason
        return None
