"""A test double of the whole EngineApi, built on the real EventBus: it records commands instead of running a show."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import Event, ModuleState, ModuleStateChanged, Notice, PipelineState, Source

if TYPE_CHECKING:
    from kitsu_tui.engine.api import Memory, Module
    from kitsu_tui.safety.moderator import Decision


class EngineDouble:
    """Records commands and module states; emits ModuleStateChanged on the real bus like the Engine does."""

    def __init__(self, persona: Persona | None = None) -> None:
        self.bus = EventBus()
        self.settings = Settings()
        self.persona = persona or Persona(name="kitsu")
        self.state = PipelineState.LISTENING
        self.muted = self.paused = self.panicked = False
        self.family_friendly = True
        self.speaking = False
        self.has_microphone = False
        self.module_states: dict[str, tuple[ModuleState, str]] = {}
        self.modules: dict[str, Module] = {}
        self.memory: Memory | None = None
        self.records: Sequence[dict[str, Any]] = ()
        self.states: list[tuple[str, ModuleState, str]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.gates: dict[str, Callable[[], str | None]] = {}
        self.submitted: list[tuple[str, Source, str]] = []

    def emit(self, event: Event) -> None:
        """Publish on the bus."""
        self.bus.emit(event)

    def notice(self, level: str, message: str) -> None:
        """Publish a Notice."""
        self.bus.emit(Notice(level=level, message=message))

    def module_on(self, name: str) -> bool:
        """Whether the module last reported on."""
        return self.module_states.get(name, (ModuleState.OFF, ""))[0] is ModuleState.ON

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and emit."""
        self.states.append((name, state, reason))
        self.module_states[name] = (state, reason)
        self.bus.emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def add_speech_gate(self, name: str, gate: Callable[[], str | None]) -> None:
        """Remember the gate."""
        self.gates[name] = gate

    def remove_speech_gate(self, name: str) -> None:
        """Forget the gate."""
        self.gates.pop(name, None)

    def gate_reason(self) -> str | None:
        """What the engine would check before speaking."""
        for gate in self.gates.values():
            reason = gate()
            if reason:
                return reason
        return None

    def register_module(self, module: Module) -> None:
        """Remember the module."""
        self.modules[module.name] = module

    async def toggle_module(self, name: str, on: bool) -> None:
        """Record."""
        self.calls.append(("toggle_module", name, on))

    def moderate_input(self, text: str, source: Source, author: str = "") -> Decision | None:
        """Like an Engine with moderation turned off (tests/integrations/test_twitch_show.py uses the real one)."""
        return None

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "", decision: Decision | None = None,
                    origin: str = "") -> bool:
        """Record a submitted turn."""
        self.submitted.append((text, source, author))
        return True

    def say(self, text: str) -> bool:
        """Record."""
        self.calls.append(("say", text))
        return True

    def interrupt(self, reason: str = "operator") -> bool:
        """Record."""
        self.calls.append(("interrupt", reason))
        return False

    def skip(self) -> bool:
        """Record."""
        self.calls.append(("skip",))
        return False

    def clear_queue(self) -> int:
        """Record."""
        self.calls.append(("clear_queue",))
        return 0

    def panic(self) -> None:
        """Record."""
        self.calls.append(("panic",))

    def clear_panic(self, unmute: bool = False) -> None:
        """Record."""
        self.calls.append(("clear_panic",))

    def set_muted(self, muted: bool) -> None:
        """Record."""
        self.calls.append(("set_muted", muted))

    def set_paused(self, paused: bool) -> None:
        """Record."""
        self.calls.append(("set_paused", paused))

    def set_family_friendly(self, on: bool) -> None:
        """Record."""
        self.calls.append(("set_family_friendly", on))

    async def switch_persona(self, name: str) -> None:
        """Record."""
        self.calls.append(("switch_persona", name))

    def approve_held(self) -> bool:
        """Record; nothing is ever held here."""
        self.calls.append(("approve_held",))
        return False

    def dump_held(self) -> bool:
        """Record; nothing is ever held here."""
        self.calls.append(("dump_held",))
        return False

    def dump_all_held(self) -> int:
        """Record; nothing is ever held here."""
        self.calls.append(("dump_all_held",))
        return 0

    def last_state(self, name: str) -> tuple[ModuleState, str] | None:
        """The latest (state, reason) reported by module `name`."""
        for module, state, reason in reversed(self.states):
            if module == name:
                return state, reason
        return None
