"""attach_integrations on the real Engine: every integration shows a state and toggles while the engine runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations.factory import attach_integrations
from kitsu_tui.integrations.vtube_studio import VtsModule

from .conftest import wait_until
from .obs_peer import free_port
from .vmc_receiver import VmcReceiver


async def test_attach_toggle_and_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreachable OBS and credential-less Twitch do not delay start; VMC toggles off and on while running."""
    for var in ("CHANNEL", "BOT_ID", "CLIENT_ID", "CLIENT_SECRET", "ACCESS_TOKEN", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"KITSU_TWITCH_{var}", raising=False)
    receiver = VmcReceiver()
    receiver.thread.start()
    settings = Settings().with_values({
        "paths.data_dir": tmp_path,
        "obs.enabled": True, "obs.port": free_port(),
        "vmc.enabled": True, "vmc.port": receiver.port,
        "twitch.enabled": True,
    })
    backends = Backends(vad=FakeVad(), asr=FakeAsr(), llm=FakeLlm(), tts=FakeTts())
    engine = Engine(settings, Persona(name="Kitsu", system_prompt="hi"), backends, NullOutput(16000))
    await engine.start()
    try:
        t = time.perf_counter()
        modules = await attach_integrations(engine, settings)
        assert time.perf_counter() - t < 0.05
        assert [m.name for m in modules] == ["obs", "vts", "vmc", "twitch"]
        vts = modules[1]
        assert isinstance(vts, VtsModule) and vts.tokens.path == tmp_path / "vts.token"
        states = engine.module_states
        await wait_until(lambda: states["obs"][0] is ModuleState.ERROR and states["vmc"][0] is ModuleState.ON
                         and states["twitch"][0] is ModuleState.ERROR, within=5)
        assert states["obs"][1].startswith(f"OBS unreachable at 127.0.0.1:{settings.obs.port}")
        assert states["twitch"][1].startswith("Twitch needs")
        assert states["vts"] == (ModuleState.OFF, "")
        await engine.toggle_module("vmc", False)
        assert states["vmc"][0] is ModuleState.OFF
        count = len(receiver.snapshot())
        await asyncio.sleep(0.2)
        assert len(receiver.snapshot()) <= count + 1
        await engine.toggle_module("vmc", True)
        await wait_until(lambda: len(receiver.snapshot()) > count + 5)
        assert engine.module_states["vmc"][0] is ModuleState.ON  # not states[...]: mypy keeps it narrowed to OFF
    finally:
        for name in ("obs", "vmc", "twitch"):
            await engine.toggle_module(name, False)
        await asyncio.wait_for(engine.stop(), 5)
        receiver.server.shutdown()
        receiver.server.server_close()
