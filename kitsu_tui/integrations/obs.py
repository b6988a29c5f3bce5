"""OBS Studio module: connection state with the live scene, scene switching, scene-aware speech gating, panic macro."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from kitsu_tui.config.settings import ObsSettings, secret_from
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations.backoff import Backoff, port_open
from kitsu_tui.integrations.base import IntegrationError, IntegrationModule
from kitsu_tui.integrations.obs_client import ObsConnection, ObsRequestFailed, describe_connect_error

log = logging.getLogger(__name__)

#: Seconds between liveness checks (each also refreshes the program scene).
HEARTBEAT_S = 1.0

#: Longest wait between reconnect attempts: each is a cheap port probe, and a restarted OBS is back within 5 s.
RECONNECT_CAP_S = 2.0


@dataclass
class PanicMemory:
    """What the panic macro changed, so clearing panic can put it back."""

    scene: str | None = None
    mutes: dict[str, bool] = field(default_factory=dict)
    filter_was_enabled: bool | None = None


class ObsModule(IntegrationModule):
    """Keeps a connection to obs-websocket, reports `on` with the program scene, and runs scene commands."""

    name = "obs"

    def __init__(self, settings: ObsSettings) -> None:
        super().__init__(Backoff(cap=RECONNECT_CAP_S))
        self.settings = settings
        self.current_scene: str | None = None
        self._conn: ObsConnection | None = None
        self._panic: PanicMemory | None = None
        self._gate_engine: object | None = None

    def target(self) -> str:
        """host:port of obs-websocket."""
        return f"{self.settings.host}:{self.settings.port}"

    def on_start(self) -> None:
        """Register the scene gate with the engine (once per engine)."""
        if self._gate_engine is not self.engine:
            self.engine.add_speech_gate(self.name, self.speech_gate)
            self._gate_engine = self.engine

    def speech_gate(self) -> str | None:
        """A reason not to start speaking: one of the configured gate scenes is live."""
        if not self.running or self.current_scene is None:
            return None
        wanted = {s.casefold() for s in self.settings.gate_scenes}
        if self.current_scene.casefold() in wanted:
            return f"OBS scene '{self.current_scene}' is live"
        return None

    def _on_scene(self, scene: str) -> None:
        """Program scene changed (event or heartbeat); ignored while disconnected."""
        if self._conn is None:
            return
        if scene and scene != self.current_scene:
            log.info("obs: program scene is now %r", scene)
            self.current_scene = scene
            if self._conn is not None:
                self.set_state(ModuleState.ON, f"scene: {scene}")

    async def session(self) -> None:
        """Wait for the port, log in, then check liveness every second until OBS goes away."""
        host, port = self.settings.host, self.settings.port
        if not await port_open(host, port):
            raise IntegrationError(f"OBS unreachable at {host}:{port}")
        password = secret_from(self.settings.password_env, self.settings.password)
        conn = self._conn = ObsConnection(host, port, password, self.settings.timeout_s)
        try:
            await conn.connect(self._on_scene)
        except Exception as exc:
            raise IntegrationError(describe_connect_error(exc, host, port, bool(password))) from exc
        while True:
            try:
                scene = await conn.call("get_current_program_scene")
            except ObsRequestFailed as exc:
                raise IntegrationError(f"OBS at {host}:{port}: {exc}") from exc
            except Exception as exc:
                raise IntegrationError(f"lost OBS at {host}:{port} ({type(exc).__name__})") from exc
            if not conn.events_alive:
                raise IntegrationError(f"lost OBS at {host}:{port} (event stream closed)")
            self._on_scene(str(scene.current_program_scene_name))
            await asyncio.sleep(HEARTBEAT_S)

    async def disconnect(self) -> None:
        """Close the clients; the scene is unknown until the next login."""
        conn, self._conn = self._conn, None
        self.current_scene = None
        if conn is not None:
            await conn.close()

    def _require(self) -> ObsConnection:
        """The live connection, or an IntegrationError saying why there is none."""
        if self._conn is None:
            raise IntegrationError(f"OBS is not connected ({self.reason or self.state.value})")
        return self._conn

    async def list_scenes(self) -> list[str]:
        """Scene names in OBS order."""
        answer = await self._require().call("get_scene_list")
        return [str(s["sceneName"]) for s in reversed(answer.scenes)]

    async def switch_scene(self, scene: str) -> str:
        """Make `scene` the program scene; raises IntegrationError with OBS's reason when it cannot."""
        try:
            await self._require().call("set_current_program_scene", scene)
        except ObsRequestFailed as exc:
            raise IntegrationError(f"OBS cannot switch to '{scene}': {exc}") from exc
        self._on_scene(scene)
        return f"OBS scene -> {scene}"

    async def on_panic(self, engaged: bool) -> list[str]:
        """Panic macro (BRB scene, mutes, filter) or its undo; returns one line per step saying ok or why not."""
        if self._conn is None:
            return [f"obs: skipped, not connected ({self.reason or self.state.value})"]
        return await (self._engage() if engaged else self._release())

    async def _step(self, label: str, method: str, *args: object) -> tuple[bool, str]:
        """Run one panic step and describe whether it worked."""
        conn = self._require()
        try:
            await conn.call(method, *args)
        except Exception as exc:
            return False, f"obs: {label}: failed ({exc or type(exc).__name__})"
        return True, f"obs: {label}: ok"

    async def _engage(self) -> list[str]:
        """Remember scene, mutes and filter state, then switch to BRB, mute and enable the filter."""
        cfg, conn, report = self.settings, self._require(), []
        memory = self._panic or PanicMemory()
        if self._panic is None:
            memory.scene = self.current_scene if self.current_scene != cfg.brb_scene else None
            for name in cfg.panic_mute_inputs:
                try:
                    memory.mutes[name] = bool((await conn.call("get_input_mute", name)).input_muted)
                except Exception as exc:
                    log.warning("obs: cannot read mute state of %r: %s", name, exc)
            if cfg.panic_filter and cfg.panic_filter_source:
                try:
                    answer = await conn.call("get_source_filter", cfg.panic_filter_source, cfg.panic_filter)
                    memory.filter_was_enabled = bool(answer.filter_enabled)
                except Exception as exc:
                    log.warning("obs: cannot read filter %r: %s", cfg.panic_filter, exc)
        self._panic = memory
        if cfg.brb_scene:
            ok, line = await self._step(f"scene -> {cfg.brb_scene}", "set_current_program_scene", cfg.brb_scene)
            report.append(line)
            if ok:
                self._on_scene(cfg.brb_scene)
        for name in cfg.panic_mute_inputs:
            report.append((await self._step(f"mute {name}", "set_input_mute", name, True))[1])
        if cfg.panic_filter and cfg.panic_filter_source:
            label = f"enable filter {cfg.panic_filter} on {cfg.panic_filter_source}"
            step = await self._step(label, "set_source_filter_enabled", cfg.panic_filter_source, cfg.panic_filter, True)
            report.append(step[1])
        return report

    async def _release(self) -> list[str]:
        """Put back the scene (if still on BRB), the mutes and the filter as they were."""
        cfg, memory, report = self.settings, self._panic, []
        if memory is None:
            return ["obs: nothing to restore"]
        self._panic = None
        if memory.scene and self.current_scene == cfg.brb_scene:
            ok, line = await self._step(f"scene -> {memory.scene}", "set_current_program_scene", memory.scene)
            report.append(line)
            if ok:
                self._on_scene(memory.scene)
        for name, was_muted in memory.mutes.items():
            report.append((await self._step(f"restore mute {name}={was_muted}", "set_input_mute", name, was_muted))[1])
        if memory.filter_was_enabled is False:
            label = f"disable filter {cfg.panic_filter} on {cfg.panic_filter_source}"
            step = await self._step(label, "set_source_filter_enabled", cfg.panic_filter_source, cfg.panic_filter, False)
            report.append(step[1])
        return report
