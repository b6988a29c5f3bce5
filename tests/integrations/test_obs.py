"""OBS module against real OBS Studio (obs-websocket 5) started headless under Xvfb by the suite."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obsws_python as obsws
import pytest
from pydantic import SecretStr

from kitsu_tui.config.settings import ObsSettings
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations.base import IntegrationError
from kitsu_tui.integrations.obs import ObsModule

from .conftest import wait_until
from .engine_double import EngineDouble
from .obs_peer import ObsPeer, free_port, running_obs

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def obs_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObsPeer]:
    """One headless OBS for this module's tests (a test may kill and restart it)."""
    with running_obs(Path(tmp_path_factory.mktemp("obs"))) as peer:
        yield peer


def client(peer: ObsPeer) -> Any:
    """A separate obsws client, standing in for the streamer's own view of OBS."""
    return obsws.ReqClient(host="127.0.0.1", port=peer.port, password=peer.password, timeout=5)


def build_show(peer: ObsPeer) -> None:
    """Scenes Main / BRB / Starting Soon, an audio input Mic with a disabled filter Censor; Main is live."""
    obs = client(peer)
    scenes = {s["sceneName"] for s in obs.get_scene_list().scenes}
    for scene in ("Main", "BRB", "Starting Soon"):
        if scene not in scenes:
            obs.create_scene(scene)
    inputs = {i["inputName"] for i in obs.get_input_list().inputs}
    if "Mic" not in inputs:
        obs.create_input("Main", "Mic", "ffmpeg_source", {}, True)
        obs.create_source_filter("Mic", "Censor", "color_filter_v2", {})
    obs.set_source_filter_enabled("Mic", "Censor", False)
    obs.set_input_mute("Mic", False)
    obs.set_current_program_scene("Main")
    obs.disconnect()


def show_state(peer: ObsPeer) -> tuple[str, bool, bool]:
    """(program scene, Mic muted, Censor enabled) as OBS reports them."""
    obs = client(peer)
    try:
        return (obs.get_current_program_scene().current_program_scene_name,
                obs.get_input_mute("Mic").input_muted,
                obs.get_source_filter("Mic", "Censor").filter_enabled)
    finally:
        obs.disconnect()


def settings(peer: ObsPeer, **extra: Any) -> ObsSettings:
    """Settings pointing at the peer with the panic macro configured."""
    return ObsSettings(host="127.0.0.1", port=peer.port, gate_scenes=["Starting Soon", "BRB"], brb_scene="BRB",
                       panic_mute_inputs=["Mic", "Ghost"], panic_filter_source="Mic", panic_filter="Censor",
                       **extra)


async def test_scene_state_gating_switching_and_panic(obs_peer: ObsPeer, engine: EngineDouble,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """State shows the live scene; gate scenes hold speech; panic switches/mutes/filters and clearing restores."""
    caplog.set_level(logging.DEBUG)
    await asyncio.to_thread(build_show, obs_peer)
    monkeypatch.setenv("KITSU_OBS_PASSWORD", obs_peer.password)
    module = ObsModule(settings(obs_peer))
    await module.start(engine)
    try:
        await wait_until(lambda: engine.last_state("obs") == (ModuleState.ON, "scene: Main"), within=15)
        assert engine.gate_reason() is None
        obs = await asyncio.to_thread(client, obs_peer)
        await asyncio.to_thread(obs.set_current_program_scene, "Starting Soon")
        await wait_until(lambda: module.current_scene == "Starting Soon", within=3)
        assert engine.gate_reason() == "OBS scene 'Starting Soon' is live"
        await asyncio.to_thread(obs.disconnect)

        assert await module.switch_scene("Main") == "OBS scene -> Main"
        assert (await asyncio.to_thread(show_state, obs_peer))[0] == "Main"
        assert engine.gate_reason() is None
        with pytest.raises(IntegrationError, match="No source was found by the name of `Nope`"):
            await module.switch_scene("Nope")
        assert "Starting Soon" in await module.list_scenes()

        report = await module.on_panic(True)
        assert report[:2] == ["obs: scene -> BRB: ok", "obs: mute Mic: ok"]
        assert report[2].startswith("obs: mute Ghost: failed")
        assert report[3] == "obs: enable filter Censor on Mic: ok"
        assert await asyncio.to_thread(show_state, obs_peer) == ("BRB", True, True)
        assert engine.gate_reason() == "OBS scene 'BRB' is live"

        report = await module.on_panic(False)
        assert report == ["obs: scene -> Main: ok", "obs: restore mute Mic=False: ok",
                          "obs: disable filter Censor on Mic: ok"]
        assert await asyncio.to_thread(show_state, obs_peer) == ("Main", False, False)
    finally:
        await module.stop()
    assert engine.last_state("obs") == (ModuleState.OFF, "")
    assert obs_peer.password not in caplog.text


async def test_wrong_password_is_a_clear_error(obs_peer: ObsPeer, engine: EngineDouble) -> None:
    """A wrong password gives a readable state, not a traceback."""
    module = ObsModule(settings(obs_peer, password=SecretStr("not-the-password"), password_env=""))
    await module.start(engine)
    try:
        await wait_until(lambda: module.state is ModuleState.ERROR, within=10)
        assert "refused the login" in module.reason
        assert "not-the-password" not in repr(module.settings)
    finally:
        await module.stop()


async def test_unreachable_obs_does_not_delay_start(engine: EngineDouble) -> None:
    """With nothing listening, start() returns in < 50 ms and the state names the address."""
    port = free_port()
    module = ObsModule(ObsSettings(port=port))
    t = time.perf_counter()
    await module.start(engine)
    elapsed = time.perf_counter() - t
    try:
        assert elapsed < 0.05
        await wait_until(lambda: module.state is ModuleState.ERROR, within=5)
        assert module.reason.startswith(f"OBS unreachable at 127.0.0.1:{port}")
        assert engine.gate_reason() is None
        assert await module.on_panic(True) == [f"obs: skipped, not connected ({module.reason})"]
    finally:
        await module.stop()


async def test_reconnects_after_obs_is_killed(obs_peer: ObsPeer, engine: EngineDouble) -> None:
    """Kill OBS mid-session: the state turns to error; start OBS again: kitsu reconnects by itself."""
    module = ObsModule(settings(obs_peer, password=SecretStr(obs_peer.password)))
    await module.start(engine)
    try:
        await wait_until(lambda: module.state is ModuleState.ON, within=15)
        await asyncio.to_thread(obs_peer.kill_obs)
        await wait_until(lambda: module.state is ModuleState.ERROR, within=10)
        assert "OBS" in module.reason
        assert module.current_scene is None
        await asyncio.to_thread(obs_peer.start_obs)
        await wait_until(lambda: module.state is ModuleState.ON, within=30)
        assert module.reason.startswith("scene: ")
        assert await module.switch_scene("BRB") == "OBS scene -> BRB"
    finally:
        await module.stop()
