"""The engine of a running show, seen through its control API: what `kitsu attach` gives the same console.

Events arrive over the WebSocket (first a replay of the show so far, so an attached console shows the
transcript, the TTS queue, modules and stats), commands go out as HTTP requests. Closing the console only
disconnects: the show goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.persona import Persona, load_persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.control.client import ControlClient, ControlError
from kitsu_tui.control.codec import decode_event
from kitsu_tui.engine.api import EngineApi, Memory, Module
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import (
    Event,
    ModuleState,
    ModuleStateChanged,
    Notice,
    OperatorAction,
    PersonaChanged,
    PipelineState,
    PipelineStateChanged,
    Source,
    TurnCompleted,
    TurnStarted,
)
from kitsu_tui.engine.state import log_level

log = logging.getLogger(__name__)

RECORDS_KEPT = 500
"""Turn records the attached console keeps (the show keeps its own window and the show log keeps all)."""
CORE_STAGES = ("vad", "asr", "llm", "tts", "mic", "speaker")


class RemoteModule:
    """A module of the show as the console sees it: toggling it asks the show over the API."""

    def __init__(self, name: str, remote: RemoteEngine) -> None:
        self.name = name
        self._remote = remote

    async def start(self, engine: EngineApi) -> None:
        """Ask the show to start this module."""
        await self._remote.toggle_module(self.name, True)

    async def stop(self) -> None:
        """Ask the show to stop this module."""
        await self._remote.toggle_module(self.name, False)


class RemoteEngine:
    """An EngineApi over HTTP and a WebSocket; state is mirrored from the show's own events."""

    def __init__(self, settings: Settings, client: ControlClient, status: dict[str, Any]) -> None:
        self.settings = settings
        self.bus = EventBus()
        self._client = client
        self._persona = self._load_persona(str(status.get("persona") or settings.persona))
        self.state = PipelineState(str(status.get("state", PipelineState.LISTENING.value)))
        self.muted = bool(status.get("muted"))
        self.paused = bool(status.get("paused"))
        self.panicked = bool(status.get("panicked"))
        self.family_friendly = bool(status.get("family_friendly", self._persona.family_friendly))
        self.module_states: dict[str, tuple[ModuleState, str]] = {}
        for name, info in dict(status.get("modules") or {}).items():
            self.module_states[str(name)] = (ModuleState(str(info.get("state", "off"))), str(info.get("reason", "")))
        self.modules: dict[str, Module] = {name: RemoteModule(name, self) for name in self.module_states
                                           if name not in CORE_STAGES}
        self.records: list[dict[str, Any]] = []
        self._current: int | None = None
        self._caught_up = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[Any]] = set()
        self.bus.add_listener(self._mirror)

    @classmethod
    def connect_blocking(cls, settings: Settings, client: ControlClient) -> RemoteEngine:
        """Read the show's status (blocking: called on a worker thread before the console draws the show)."""
        request = urllib.request.Request(f"{client.base_url}/status",
                                         headers={"Authorization": f"Bearer {client.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own localhost API
                status = json.loads(response.read().decode("utf-8"))
        except OSError as exc:
            raise ControlError(0, f"no show is running at {client.base_url} ({exc})") from exc
        return cls(settings, client, status)

    # --- what the console reads ------------------------------------------------------------

    @property
    def persona(self) -> Persona:
        """The show's persona (read from the same personas folder)."""
        return self._persona

    @property
    def owns_show(self) -> bool:
        """Closing an attached console never ends the show."""
        return False

    @property
    def speaking(self) -> bool:
        """A reply is being thought of or played."""
        return self._current is not None

    @property
    def has_microphone(self) -> bool:
        """The show listens to a microphone."""
        return self.module_on("mic")

    @property
    def memory(self) -> Memory | None:
        """The show's memory lives in its own process."""
        return None

    @memory.setter
    def memory(self, memory: Memory | None) -> None:
        """Memory cannot be handed to a show from outside."""

    def module_on(self, name: str) -> bool:
        """True when the show reports the module on."""
        return self.module_states.get(name, (ModuleState.OFF, ""))[0] == ModuleState.ON

    def _mirror(self, event: Event) -> None:
        """Keep the mirrored state in step with the show's events."""
        if isinstance(event, PipelineStateChanged):
            self.state, self.muted, self.paused, self.panicked = event.state, event.muted, event.paused, event.panic
        elif isinstance(event, ModuleStateChanged):
            self.module_states[event.module] = (event.state, event.reason)
            if event.module not in CORE_STAGES and event.module not in self.modules:
                self.modules[event.module] = RemoteModule(event.module, self)
        elif isinstance(event, TurnStarted):
            self._current = event.turn_id
        elif isinstance(event, TurnCompleted):
            self.records.append(event.record)
            del self.records[:-RECORDS_KEPT]
            if self._current == event.turn_id:
                self._current = None
        elif isinstance(event, OperatorAction) and event.action == "family":
            self.family_friendly = event.detail == "on"
        elif isinstance(event, PersonaChanged):
            with contextlib.suppress(ConfigError, OSError):
                self._persona = self._load_persona(event.name)

    def _load_persona(self, name: str) -> Persona:
        try:
            return load_persona(self.settings.paths.personas_dir, name)
        except ConfigError:
            return Persona(name=name)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, wait_loaded: bool = True) -> None:
        """Follow the show's events (the replay first)."""
        self._stream = asyncio.get_running_loop().create_task(self._follow(), name="kitsu-attach-stream")
        if wait_loaded:
            await self.wait_loaded()

    async def _follow(self) -> None:
        try:
            async for data in self._client.stream(replay=True):
                if data.get("kind") == "ReplayDone":
                    self._caught_up.set()
                    continue
                event = decode_event(data)
                if event is not None:
                    self.bus.emit(event)
        except (ControlError, OSError) as exc:
            self.notice("error", f"lost the show: {exc}")
        finally:
            self._caught_up.set()
        self.notice("warning", "the show's event stream ended: the show stopped or the connection dropped")

    async def wait_loaded(self) -> None:
        """Return once the replay of the show so far has been shown."""
        await self._caught_up.wait()

    async def wait_idle(self) -> None:
        """Return once the show is not replying."""
        while self.speaking:  # noqa: ASYNC110 - mirrored from events; a poll keeps it simple
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Disconnect (the show goes on)."""
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stream
        for task in list(self._sends):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 2)
        await self._client.close()

    # --- commands ----------------------------------------------------------------------------

    def _send(self, path: str, body: dict[str, Any] | None = None,
              done: Callable[[dict[str, Any]], None] | None = None) -> None:
        """POST in the background; a refusal is shown as a notice."""

        async def send() -> None:
            try:
                answer = await self._client.post(path, body)
            except (ControlError, OSError) as exc:
                self.notice("error", f"{path}: {exc}")
                return
            if done is not None:
                done(answer)

        task = asyncio.get_running_loop().create_task(send(), name=f"kitsu-attach-{path}")
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    def emit(self, event: Event) -> None:
        """Show an event on this console only."""
        self.bus.emit(event)

    def notice(self, level: str, message: str) -> None:
        """Tell this console's operator something."""
        log.log(log_level(level), message)
        self.bus.emit(Notice(level=level, message=message))

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Only the show sets module states; shown here as given."""
        self.bus.emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def add_speech_gate(self, name: str, gate: Callable[[], str | None]) -> None:
        """Speech gates run inside the show."""
        log.warning("speech gate %s ignored: gates run inside the show's process", name)

    def remove_speech_gate(self, name: str) -> None:
        """Speech gates run inside the show."""

    def register_module(self, module: Module) -> None:
        """Modules run inside the show."""
        log.warning("module %s ignored: modules run inside the show's process", module.name)

    async def toggle_module(self, name: str, on: bool) -> None:
        """Ask the show to start or stop a module."""
        try:
            await self._client.post(f"/toggle/{name}", {"on": on})
        except ControlError as exc:
            self.notice("warning", f"{name}: {exc}")

    def moderate_input(self, text: str, source: Source, author: str = "") -> None:
        """The show moderates what it receives."""
        return None

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "", decision: object = None,
                    origin: str = "") -> bool:
        """Send a line to the show (a refusal arrives as a TurnRejected event)."""
        if not text.strip():
            return False
        kind = "operator" if source == Source.OPERATOR else "chat"
        self._send("/chat", {"text": text, "author": author or kind, "source": kind})
        return True

    def say(self, text: str) -> bool:
        """Have the show speak `text` verbatim."""
        self._send("/say", {"text": text})
        return bool(text.strip())

    def interrupt(self, reason: str = "operator") -> bool:
        """Stop the show's current reply."""
        self._send("/interrupt")
        return self.speaking

    def skip(self) -> bool:
        """Drop the sentence being played."""
        self._send("/skip")
        return self.speaking

    def clear_queue(self) -> int:
        """Waiting turns are the show's to drop (panic does)."""
        return 0

    def panic(self) -> None:
        """Panic the show."""
        self._send("/panic")

    def clear_panic(self, unmute: bool = False) -> None:
        """Leave panic."""
        self._send("/unpanic", {"unmute": unmute})

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the show's microphone."""
        self._send("/mute", {"muted": muted})

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the show."""
        self._send("/pause", {"paused": paused})

    def set_family_friendly(self, on: bool) -> None:
        """Switch the show's family mode."""
        self.family_friendly = on
        self._send("/family", {"on": on})

    def approve_held(self) -> bool:
        """Put the oldest held sentence on air."""
        self._send("/hold/approve")
        return True

    def dump_held(self) -> bool:
        """Dump the oldest held sentence."""
        self._send("/hold/dump")
        return True

    def dump_all_held(self) -> int:
        """Dump every held sentence."""
        self._send("/hold/dump_all")
        return 1

    async def switch_persona(self, name: str) -> None:
        """Ask the show to switch persona; a refusal raises ConfigError like an in-process switch."""
        try:
            await self._client.post("/persona", {"name": name})
        except ControlError as exc:
            raise ConfigError(name, [str(exc)]) from exc
