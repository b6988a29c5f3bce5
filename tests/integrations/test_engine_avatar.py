"""The real Engine on fake backends plays a reply: the VTS fake and a VMC receiver see the mouth and the mood."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from kitsu_tui.audio.lipsync import LipsyncAnalyzer
from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import MoodSpec, Persona
from kitsu_tui.config.settings import Settings, VmcSettings, VtsSettings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event, ModuleState, PlaybackFinished, PlaybackStarted, Source
from kitsu_tui.integrations.vmc import VmcModule
from kitsu_tui.integrations.vtube_studio import VtsModule

from .conftest import wait_until
from .fake_vts import FakeVTS
from .vmc_receiver import VmcReceiver

REPLY = "[happy] Hello there little fox! How are you doing on this fine day?"


async def test_real_engine_reply_drives_vts_and_vmc(tmp_path: Path) -> None:
    """During playback MouthOpen and the VMC A..O shapes rise and fall; 'happy' reaches an expression and Joy."""
    fake = FakeVTS()
    vts_port = await fake.start()
    receiver = VmcReceiver()
    receiver.thread.start()
    persona = Persona(name="Kitsu", system_prompt="You are Kitsu.",
                      moods={"happy": MoodSpec(expression="happy.exp3.json", vmc={"Joy": 1.0})})
    backends = Backends(vad=FakeVad(), asr=FakeAsr(), llm=FakeLlm([REPLY]), tts=FakeTts())
    engine = Engine(Settings(), persona, backends, NullOutput(16000), analyzer=LipsyncAnalyzer().analyze)
    playback: list[tuple[float, Event]] = []
    engine.bus.add_listener(lambda e: playback.append((time.monotonic(), e))
                            if isinstance(e, PlaybackStarted | PlaybackFinished) else None)
    vts = VtsModule(VtsSettings(url=f"ws://127.0.0.1:{vts_port}"), tmp_path / "vts_token")
    vmc = VmcModule(VmcSettings(port=receiver.port, rate_hz=60))
    await engine.start()
    try:
        for module in (vts, vmc):
            engine.register_module(module)
            await engine.toggle_module(module.name, True)
        await wait_until(lambda: engine.module_states["vts"][0] is ModuleState.ON
                         and engine.module_states["vmc"][0] is ModuleState.ON, within=10)
        assert engine.submit_text("say hi", Source.CHAT, "viewer")
        await asyncio.wait_for(engine.wait_idle(), 20)
        await asyncio.sleep(0.5)
    finally:
        await engine.toggle_module("vts", False)
        await engine.toggle_module("vmc", False)
        await asyncio.wait_for(engine.stop(), 5)
        await fake.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
    start = min(t for t, e in playback if isinstance(e, PlaybackStarted))
    end = max(t for t, e in playback if isinstance(e, PlaybackFinished))
    assert end - start > 1.0

    vts_mouth = np.array([f["MouthOpen"] for t, f in fake.injections if start <= t <= end])
    assert len(vts_mouth) / (end - start) >= 30, "VTS mouth frames below 30 Hz during playback"
    assert vts_mouth.max() > 0.5 and vts_mouth.max() - vts_mouth.min() > 0.3
    assert all(f["MouthOpen"] == 0.0 for t, f in fake.injections if t < start - 0.3)
    swings = np.sum(np.abs(np.diff(np.sign(np.diff(vts_mouth))))) / 2
    assert swings >= 4, "mouth should open and close with the syllables"
    assert fake.expressions["happy.exp3.json"] is True
    assert [f["MouthSmile"] for t, f in fake.injections if t > start][-1] == 1.0
    assert all(f["MouthOpen"] == 0.0 for t, f in fake.injections if t > end + 0.4)

    frames = [(t, f) for t, f in receiver.snapshot() if start <= t <= end]
    assert len(frames) / (end - start) >= 30, "VMC frames below 30 Hz during playback"
    open_a = np.array([max(f[v] for v in "AIUEO") for _, f in frames])
    assert open_a.max() > 0.3 and open_a.max() - open_a.min() > 0.2
    assert np.sum(np.abs(np.diff(np.sign(np.diff(open_a))))) / 2 >= 4
    assert frames[-1][1]["Joy"] > 0.9
