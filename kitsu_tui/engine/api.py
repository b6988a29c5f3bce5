"""The typed seams of the engine: the command/query API its consumers use, and the parts it is given.

Everything outside `kitsu_tui.engine` (the console, integrations, memory, telemetry, soak, the control
API) talks to the show through `EngineApi`; the engine is handed its moderator, memory and lip-sync
analyzer as the small Protocols below. Nothing here imports the Engine itself, so no import circle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import Event, ModuleState, PipelineState, Source

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.safety.moderator import Decision

Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]
"""Starts a task the engine keeps (and cancels on shutdown)."""
Summarizer = Callable[[str], Awaitable[str]]
"""Turns a stretch of conversation into a one-line summary (empty when the LLM is busy)."""


class Moderator(Protocol):
    """Checks input lines before they become turns and reply sentences before they are spoken."""

    def check_input(self, text: str, source: str, author: str = "", family_friendly: bool = True,
                    language: str = "en") -> Decision:
        """The decision for a chat, voice or operator line."""

    def check_output(self, sentence: str, family_friendly: bool, language: str = "en",
                     context: str = "") -> Decision:
        """The decision for one reply sentence (`context`: the message it answers)."""


class Memory(Protocol):
    """The long-term memory the conversation recalls from and stores what was heard in."""

    async def add_turn(self, turn_id: int, role: str, text: str, source: str = "", author: str = "") -> bool:
        """Store one side of an exchange; False when it was not kept."""

    async def recall(self, query: str, limit: int = 3, exclude_recent: int = 0) -> list[str]:
        """Stored lines relevant to `query`, leaving out the newest `exclude_recent` rows."""

    async def restored_context(self) -> list[str]:
        """Summaries carried over from earlier sessions."""

    async def maybe_summarize(self, summarize: Summarizer | None) -> str | None:
        """Summarize the unsummarized turns when enough have piled up."""

    async def close(self) -> None:
        """Flush and close."""


Analyzer = Callable[[Any, int], tuple[float, tuple[float, float, float, float, float]]]
"""Lip-sync analysis of the block just played: (mouth open 0..1, five vowel weights)."""


@runtime_checkable
class PanicAware(Protocol):
    """A module with its own panic action (cut to a safe scene, hide the avatar...)."""

    async def on_panic(self, engaged: bool) -> list[str]:
        """Engage or clear this module's panic action; returns the steps done."""


class Module(Protocol):
    """A toggleable part of the show that consumes engine events and may send commands back.

    start() must return quickly (connect in a background task, report progress with
    engine.set_module_state); stop() must cancel its tasks and close its connections.
    """

    name: str

    async def start(self, engine: EngineApi) -> None:
        """Begin consuming events (engine.bus.subscribe()) and connecting."""

    async def stop(self) -> None:
        """Stop everything this module runs."""


class EngineApi(Protocol):
    """What the console, integrations, modules and the control API may read and ask of the show."""

    @property
    def bus(self) -> EventBus:
        """The event bus every consumer reads."""

    @property
    def settings(self) -> Settings:
        """The settings the show was started with (never changed after load)."""

    @property
    def persona(self) -> Persona:
        """The persona speaking now."""

    @property
    def state(self) -> PipelineState:
        """The pipeline's state as last announced."""

    @property
    def muted(self) -> bool:
        """The microphone is muted."""

    @property
    def paused(self) -> bool:
        """The pipeline is paused."""

    @property
    def panicked(self) -> bool:
        """Panic is engaged."""

    @property
    def speaking(self) -> bool:
        """A reply is being thought of or played right now."""

    @property
    def has_microphone(self) -> bool:
        """The show listens to a microphone (or a WAV input); False: chat and typed lines only."""

    @property
    def family_friendly(self) -> bool:
        """Family mode: the stricter moderation rules apply."""

    @property
    def module_states(self) -> dict[str, tuple[ModuleState, str]]:
        """Each module's state and reason."""

    @property
    def modules(self) -> dict[str, Module]:
        """The registered pluggable modules by name."""

    @property
    def memory(self) -> Memory | None:
        """The long-term memory in use (None: nothing is recalled or stored)."""

    @memory.setter
    def memory(self, memory: Memory | None) -> None:
        """Hand the engine its memory (the memory module does on start) or take it away (None)."""

    @property
    def records(self) -> Sequence[dict[str, Any]]:
        """The most recent turns' records (a bounded window; the show log keeps them all)."""

    def emit(self, event: Event) -> None:
        """Publish an event to every consumer."""

    def notice(self, level: str, message: str) -> None:
        """Tell the operator something in one line."""

    def module_on(self, name: str) -> bool:
        """True when the module is loaded/connected and enabled."""

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and announce a module's state."""

    def add_speech_gate(self, name: str, gate: Callable[[], str | None]) -> None:
        """Hold speech while `gate()` returns a reason."""

    def remove_speech_gate(self, name: str) -> None:
        """Drop a speech gate."""

    def register_module(self, module: Module) -> None:
        """Add a module; it starts with toggle_module(name, True)."""

    async def toggle_module(self, name: str, on: bool) -> None:
        """Start or stop a module (core asr/llm/tts toggles stop using that stage)."""

    def moderate_input(self, text: str, source: Source, author: str = "") -> Decision | None:
        """Moderate a line before it becomes a turn (None when moderation is off)."""

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "",
                    decision: Decision | None = None, origin: str = "") -> bool:
        """Queue a text turn; False when refused (the reason is emitted)."""

    def say(self, text: str) -> bool:
        """Speak `text` verbatim (no LLM); output moderation still applies."""

    def interrupt(self, reason: str = "operator") -> bool:
        """Stop the current turn now; True if one ran."""

    def skip(self) -> bool:
        """Drop the sentence playing now."""

    def clear_queue(self) -> int:
        """Drop every waiting turn; returns how many."""

    def panic(self) -> None:
        """Stop speech, clear the queues, mute the mic and fire the modules' panic actions."""

    def clear_panic(self, unmute: bool = False) -> None:
        """Leave panic; the mic stays muted unless `unmute`."""

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the pipeline."""

    def set_family_friendly(self, on: bool) -> None:
        """Switch family mode at run time (the persona file is not changed)."""

    def approve_held(self) -> bool:
        """Put the oldest sentence waiting in the pre-air hold on air now; False when nothing was held."""

    def dump_held(self) -> bool:
        """Dump the oldest held sentence (never spoken, never stored); False when nothing was held."""

    def dump_all_held(self) -> int:
        """Dump every held sentence; returns how many."""

    async def switch_persona(self, name: str) -> None:
        """Load and switch persona; a broken file raises ConfigError and keeps the current one."""


class ConsoleEngine(EngineApi, Protocol):
    """The engine as a console drives it: the API plus a lifecycle (in-process, or a connection to a show)."""

    @property
    def owns_show(self) -> bool:
        """True when closing the console ends the show (in-process); False when it only detaches (attached)."""

    async def start(self, wait_loaded: bool = True) -> None:
        """Start the show (in-process) or connect to it (attached)."""

    async def wait_loaded(self) -> None:
        """Return once the models are loaded (or the attached console has caught up with the show)."""

    async def wait_idle(self) -> None:
        """Return once no turn is running or waiting."""

    async def stop(self) -> None:
        """Stop the show (in-process) or disconnect from it (attached)."""
