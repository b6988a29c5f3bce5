"""The show's command API and what consumers read: the part of the engine every view and integration uses."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kitsu_tui.engine.admission import Admission
from kitsu_tui.engine.api import Module
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import Event, ModuleState, OperatorAction, PipelineState, PlaybackStarted, Source
from kitsu_tui.engine.hold import PreAirHold
from kitsu_tui.engine.modules import ModuleRegistry
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.state import ShowState, SpeechGate
from kitsu_tui.engine.turns import TurnRunner

if TYPE_CHECKING:
    from kitsu_tui.safety.moderator import Decision


class ShowControls:
    """Operator commands (say, interrupt, skip, panic, mute, pause, family mode) and the show's readable state.

    The Engine builds the parts and inherits this; each command is carried out by the part that owns its state.
    """

    def __init__(self, bus: EventBus, show: ShowState, player: Player, queue: TurnQueue, admission: Admission,
                 registry: ModuleRegistry, hold: PreAirHold) -> None:
        self.bus = bus
        self.hold = hold
        """The pre-air hold: sentences under review or a broadcast delay wait here for the operator."""
        self.show = show
        self.player = player
        self.queue = queue
        self.admission = admission
        self.registry = registry
        self.loaded = asyncio.Event()
        """Set once every model finished loading (or failed)."""

    @property
    def state(self) -> PipelineState:
        """The pipeline's state as last announced."""
        return self.show.pipeline

    @property
    def muted(self) -> bool:
        """The microphone is muted."""
        return self.show.muted

    @property
    def paused(self) -> bool:
        """The pipeline is paused."""
        return self.show.paused

    @property
    def panicked(self) -> bool:
        """Panic is engaged."""
        return self.show.panicked

    @property
    def family_friendly(self) -> bool:
        """Family mode: the stricter moderation rules apply."""
        return self.show.family_friendly

    @property
    def module_states(self) -> dict[str, tuple[ModuleState, str]]:
        """Each module's state and reason."""
        return self.show.module_states

    @property
    def modules(self) -> dict[str, Module]:
        """The registered pluggable modules by name."""
        return self.registry.modules

    @property
    def records(self) -> list[dict[str, Any]]:
        """The most recent turns' records (a bounded window; the show log keeps them all)."""
        return self.queue.records

    @property
    def current(self) -> TurnRunner | None:
        """The turn running now."""
        return self.queue.current

    @property
    def speaking(self) -> bool:
        """A reply is being thought of or played right now."""
        return self.queue.current is not None or self.player.busy

    @property
    def owns_show(self) -> bool:
        """The console that drives this engine ends the show when it closes (the engine is in its process)."""
        return True

    @property
    def busy(self) -> bool:
        """A turn is running, being stored, or waiting."""
        return self.queue.busy

    def emit(self, event: Event) -> None:
        """Publish an event to every consumer."""
        self.bus.emit(event)

    def _from_player(self, event: Event) -> None:
        """The player's events: the first sound of a reply turns the pipeline to speaking."""
        self.bus.emit(event)
        if isinstance(event, PlaybackStarted) and self.queue.current is not None:
            self.show.announce(PipelineState.SPEAKING)

    def notice(self, level: str, message: str) -> None:
        """Tell the operator something in one line."""
        self.show.notice(level, message)

    def module_on(self, name: str) -> bool:
        """True when the module is loaded/connected and enabled."""
        return self.show.module_on(name)

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and announce a module's state."""
        self.show.set_module_state(name, state, reason)

    def add_speech_gate(self, name: str, gate: SpeechGate) -> None:
        """Hold speech while `gate()` returns a reason (e.g. an OBS 'BRB' scene)."""
        self.show.add_speech_gate(name, gate)

    def remove_speech_gate(self, name: str) -> None:
        """Drop a speech gate."""
        self.show.remove_speech_gate(name)

    def refresh_state(self) -> None:
        """Recompute and announce the pipeline state."""
        current = self.queue.current
        self.show.announce(self.show.resting(None if current is None else self.player.busy, self.loaded.is_set()))

    def moderate_input(self, text: str, source: Source, author: str = "") -> Decision | None:
        """Moderate a line before it becomes a turn (None when moderation is off); a block is emitted here."""
        return self.admission.moderate_input(text, source, author)

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "",
                    decision: Decision | None = None, origin: str = "") -> bool:
        """Queue a text turn (chat, operator or /say); False when refused (the reason is emitted)."""
        return self.admission.submit(text, source, author, decision, origin)

    def say(self, text: str) -> bool:
        """Speak `text` verbatim (no LLM); output moderation still applies."""
        return self.submit_text(text, Source.SAY, "operator")

    def interrupt(self, reason: str = "operator") -> bool:
        """Stop the current turn now: LLM stop flag, TTS queue dropped, playback cut; True if one ran."""
        return self.queue.interrupt(reason)

    def skip(self) -> bool:
        """Drop the sentence playing now; the rest of the reply goes on."""
        return self.queue.skip()

    def clear_queue(self) -> int:
        """Drop every waiting turn; returns how many."""
        return self.queue.clear()

    def panic(self) -> None:
        """Stop speech now, clear the LLM and TTS queues, mute the mic and fire the modules' panic actions."""
        if self.show.panicked:
            return
        self.show.panicked = self.show.muted = True
        dropped = self.clear_queue()
        self.interrupt("panic")
        self.emit(OperatorAction(action="panic", detail=f"dropped {dropped} waiting turns"))
        self.refresh_state()
        self.registry.fire_panic(True)

    def clear_panic(self, unmute: bool = False) -> None:
        """Leave panic deliberately; the mic stays muted unless `unmute`."""
        if not self.show.panicked:
            return
        self.show.panicked = False
        if unmute:
            self.show.muted = False
        self.emit(OperatorAction(action="clear_panic"))
        self.refresh_state()
        self.registry.fire_panic(False)

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""
        self.show.muted = muted
        self.emit(OperatorAction(action="mute" if muted else "unmute"))
        self.refresh_state()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the pipeline: no listening, no new turns, held speech."""
        self.show.paused = paused
        self.emit(OperatorAction(action="pause" if paused else "resume"))
        self.refresh_state()

    def set_family_friendly(self, on: bool) -> None:
        """Switch family mode at run time (the persona file is not changed)."""
        self.show.family_friendly = on
        self.emit(OperatorAction(action="family", detail="on" if on else "off"))

    def register_module(self, module: Module) -> None:
        """Add a module (integration, memory, telemetry); it starts with toggle_module(name, True)."""
        self.registry.register(module)

    def approve_held(self) -> bool:
        """Put the oldest held sentence on air now; False when nothing was held."""
        return bool(self._hold_action("approve", self.hold.approve()))

    def dump_held(self) -> bool:
        """Dump the oldest held sentence: never spoken, never stored."""
        return bool(self._hold_action("dump", self.hold.dump()))

    def dump_all_held(self) -> int:
        """Dump every held sentence; returns how many."""
        return self._hold_action("dump all", self.hold.dump_all())

    def _hold_action(self, action: str, done: int | bool) -> int:
        """Log an operator hold action that did something."""
        if done:
            self.emit(OperatorAction(action=action, detail=f"{int(done)} held sentence(s)"))
        return int(done)
