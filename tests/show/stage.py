"""The rehearsal's stage: real peers and doubles of the outside world, settings pointing kitsu at them, and taps."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obsws_python as obsws
from pydantic import SecretStr

from kitsu_tui.audio.base import Audio
from kitsu_tui.audio.inputs import WavFileInput
from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.bootstrap import EngineParts, build_engine
from kitsu_tui.config.settings import ObsSettings, Settings, TwitchSettings, VmcSettings, VtsSettings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, ModuleState, ModuleStateChanged, TurnCompleted

from ..integrations.fake_vts import FakeVTS
from ..integrations.obs_peer import ObsPeer
from ..integrations.twitch_double import TwitchDouble
from ..integrations.vmc_receiver import VmcReceiver

ROOT = Path(__file__).resolve().parents[2]

SCENES = ("Main", "Gameplay", "BRB")
PANIC_INPUTS = ("Mic", "Music")


class TappedOutput(NullOutput):
    """The real-time null sink, tapped: the monotonic time at which each block carrying reply audio left it."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        self.audible: list[float] = []

    def _consume(self, out: Audio) -> int:
        taken = super()._consume(out)
        if taken:
            self.audible.append(time.monotonic())
        return taken

    def last_audible(self) -> float:
        """When reply audio last left the output (-inf before any)."""
        return self.audible[-1] if self.audible else float("-inf")

    def spans(self, gap_s: float = 0.25) -> list[tuple[float, float]]:
        """Stretches of continuous speech (blocks less than gap_s apart), as (start, end) monotonic times."""
        spans: list[tuple[float, float]] = []
        for at in list(self.audible):
            if spans and at - spans[-1][1] <= gap_s:
                spans[-1] = (spans[-1][0], at)
            else:
                spans.append((at, at))
        return spans


class VoiceCues:
    """The wait hook of the WAV microphone: before each next question it waits for the test's cue."""

    def __init__(self) -> None:
        self._cues: list[asyncio.Event] = []
        self._asked = 0
        self._given = 0

    def cue(self) -> None:
        """Let the next question be spoken."""
        self._event(self._given).set()
        self._given += 1

    def _event(self, index: int) -> asyncio.Event:
        while len(self._cues) <= index:
            self._cues.append(asyncio.Event())
        return self._cues[index]

    async def wait(self) -> None:
        """WavFileInput's wait_before_next: the n-th pause lasts until the n-th cue."""
        index, self._asked = self._asked, self._asked + 1
        await self._event(index).wait()


def obs_client(peer: ObsPeer) -> Any:
    """The streamer's own view of OBS: a separate obs-websocket client (blocking calls)."""
    return obsws.ReqClient(host="127.0.0.1", port=peer.port, password=peer.password, timeout=5)


def build_obs_scenes(peer: ObsPeer, live: str | None = "Main") -> None:
    """Scenes Main, Gameplay and BRB, audio inputs Mic and Music (unmuted) in Main, each made only when missing;
    `live` becomes the program scene."""
    obs = obs_client(peer)
    try:
        scenes = {s["sceneName"] for s in obs.get_scene_list().scenes}
        for scene in SCENES:
            if scene not in scenes:
                obs.create_scene(scene)
        inputs = {i["inputName"] for i in obs.get_input_list().inputs}
        for name in PANIC_INPUTS:
            if name not in inputs:
                obs.create_input("Main", name, "ffmpeg_source", {}, True)
            obs.set_input_mute(name, False)
        if live is not None:
            obs.set_current_program_scene(live)
    finally:
        obs.disconnect()


def obs_state(peer: ObsPeer) -> tuple[str, dict[str, bool]]:
    """(program scene, {input: muted}) as OBS itself reports them."""
    obs = obs_client(peer)
    try:
        return (str(obs.get_current_program_scene().current_program_scene_name),
                {name: bool(obs.get_input_mute(name).input_muted) for name in PANIC_INPUTS})
    finally:
        obs.disconnect()


async def until(check: Callable[[], object], within: float, what: str) -> None:
    """Let the show run until `check()` is truthy; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Stage:
    """Everything outside kitsu during the show, plus kitsu's settings and the taps the test reads."""

    obs: ObsPeer
    tmp: Path
    questions: list[Path]
    backends: Backends
    vts: FakeVTS = field(default_factory=FakeVTS)
    vmc: VmcReceiver = field(default_factory=VmcReceiver)
    twitch: TwitchDouble = field(default_factory=TwitchDouble)
    cues: VoiceCues = field(default_factory=VoiceCues)
    events: list[Event] = field(default_factory=list)
    output: TappedOutput | None = None
    settings: Settings | None = None

    async def start(self) -> None:
        """Start the VTS double (every expression and hotkey the personas use), the VMC receiver and Twitch."""
        self.vts.expressions = {f"{name}.exp3.json": False
                                for name in ("neutral", "happy", "smile", "sad", "angry", "surprised")}
        self.vts.hotkeys = {f"hk-{i}": name for i, name in enumerate(("Smile", "Sad", "Angry", "Surprised"))}
        vts_port = await self.vts.start()
        self.vmc.start()
        await self.twitch.start()
        await asyncio.to_thread(build_obs_scenes, self.obs)
        self.settings = self._settings(vts_port)

    async def stop(self) -> None:
        """Stop the doubles (OBS belongs to its fixture)."""
        await self.twitch.stop()
        await self.vts.stop()
        self.vmc.stop()

    def _settings(self, vts_port: int) -> Settings:
        """kitsu.toml for the show: every module on, pointed at the stage; memory and logs under tmp."""
        data = self.tmp / "data"
        shutil.copytree(ROOT / "data" / "moderation", data / "moderation")
        twitch = self.twitch
        return Settings(
            paths={"personas_dir": ROOT / "personas", "prompts_dir": ROOT / "prompts", "data_dir": data,
                   "log_dir": self.tmp / "logs"},
            audio={"play_audio": False},
            obs=ObsSettings(enabled=True, port=self.obs.port, password=SecretStr(self.obs.password),
                            panic_mute_inputs=list(PANIC_INPUTS)),
            vts=VtsSettings(enabled=True, url=f"ws://127.0.0.1:{vts_port}", token_path=self.tmp / "vts.token"),
            vmc=VmcSettings(enabled=True, port=self.vmc.port),
            twitch=TwitchSettings(enabled=True, channel="kitsu", bot_id=twitch.bot_id, client_id=twitch.client_id,
                                  client_secret=SecretStr(twitch.client_secret),
                                  access_token=SecretStr(twitch.user_token), refresh_token=SecretStr("refresh-tok"),
                                  reply_interval_s=1.0, api_base=twitch.api_base, auth_base=twitch.auth_base,
                                  eventsub_url=twitch.eventsub_url),
        )

    def engine_factory(self) -> EngineParts:
        """build_engine on the session's real models: the questions as the microphone, the tapped null sink."""
        assert self.settings is not None
        mic = WavFileInput(self.questions, realtime=True, lead_in_s=2.0, gap_s=1.0, trailing_silence_s=2.0,
                           wait_before_next=self.cues.wait, max_wait_s=None)
        self.output = TappedOutput(self.backends.tts.sample_rate)
        return build_engine(self.settings, inputs=[mic], backends=self.backends, output=self.output)

    def follow(self, engine: Engine) -> None:
        """Record every engine event from now on."""
        engine.bus.add_listener(self.events.append)

    # --- what the test reads -------------------------------------------------------------------

    def of(self, kind: type[Any]) -> list[Any]:
        """Recorded events of one type."""
        return [e for e in self.events if isinstance(e, kind)]

    def records(self) -> list[dict[str, Any]]:
        """Every completed turn's record."""
        return [e.record for e in self.of(TurnCompleted)]

    def answered(self, origin: str) -> list[dict[str, Any]]:
        """Turns from `origin` (voice, twitch, operator) that ran and were heard."""
        return [r for r in self.records() if r.get("origin") == origin and not r.get("rejected") and r["spoken"]]

    def states(self, module: str) -> list[tuple[float, ModuleState]]:
        """(time, state) of every state change of a module."""
        return [(e.ts, e.state) for e in self.of(ModuleStateChanged) if e.module == module]

    def outages(self, module: str, end: float) -> list[tuple[float, float]]:
        """(from, to) windows in which a module that had been on was not on."""
        windows: list[tuple[float, float]] = []
        since: float | None = None
        was_on = False
        for at, state in self.states(module):
            if state is ModuleState.ON and not was_on:
                if since is not None:
                    windows.append((since, at))
                was_on, since = True, None
            elif state is not ModuleState.ON and was_on:
                was_on, since = False, at
        if since is not None:
            windows.append((since, end))
        return windows
