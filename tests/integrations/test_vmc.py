"""VMC over OSC against a real python-osc ThreadingOSCUDPServer on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from kitsu_tui.config.persona import MoodSpec, Persona
from kitsu_tui.config.settings import VmcSettings
from kitsu_tui.engine.events import ModuleState, MoodChanged, MouthUpdated
from kitsu_tui.integrations.avatar import Blinker
from kitsu_tui.integrations.vmc import VmcModule

from .conftest import wait_until
from .engine_double import EngineDouble
from .vmc_receiver import VmcReceiver


@pytest.fixture
def receiver() -> Iterator[VmcReceiver]:
    """A running receiver on an ephemeral UDP port."""
    rx = VmcReceiver()
    rx.start()
    yield rx
    rx.stop()


async def test_frames_follow_mouth_and_mood(receiver: VmcReceiver) -> None:
    """Mouth shapes rise and fall with MouthUpdated, mood reaches Joy, frames arrive at >= 30 Hz."""
    persona = Persona(name="kitsu", moods={"happy": MoodSpec(vmc={"Joy": 1.0})})
    engine = EngineDouble(persona)
    module = VmcModule(VmcSettings(port=receiver.port, rate_hz=60))
    await module.start(engine)
    try:
        await wait_until(lambda: len(receiver.snapshot()) > 5)
        engine.bus.emit(MoodChanged(mood="happy"))
        t0 = time.monotonic()
        for i in range(40):  # ~1 s of speech at 40 Hz: open-close envelope on A and O
            level = (i % 10) / 10
            engine.bus.emit(MouthUpdated(value=level, vowels=(level, 0.0, 0.0, 0.0, level / 2)))
            await asyncio.sleep(0.025)
        t1 = time.monotonic()
        await asyncio.sleep(0.5)  # silence: mouth must close
        frames = receiver.snapshot()
    finally:
        await module.stop()
    speaking = [f for t, f in frames if t0 + 0.05 < t < t1]
    assert len(speaking) / (t1 - t0 - 0.05) >= 30, f"only {len(speaking)} frames in {t1 - t0:.2f}s"
    assert all(set(f) >= {"A", "I", "U", "E", "O", "Blink", "Joy", "Angry", "Sorrow", "Fun"} for f in speaking)
    mouth = [f["A"] for f in speaking]
    assert max(mouth) >= 0.8 and min(mouth) <= 0.1
    assert max(f["O"] for f in speaking) >= 0.4
    assert frames[-1][1]["A"] == 0.0 and frames[-1][1]["O"] == 0.0
    assert frames[-1][1]["Joy"] == pytest.approx(1.0)
    assert engine.last_state("vmc") == (ModuleState.OFF, "")
    assert (ModuleState.ON, f"sending to 127.0.0.1:{receiver.port}") in [(s, r) for _, s, r in engine.states]


async def test_natural_blink_timing() -> None:
    """Blinks close fully, are short, and come every few seconds (a 60 s simulation)."""
    import random

    blinker = Blinker(random.Random(7))
    step = 1 / 60
    values = [blinker.value(i * step) for i in range(int(60 / step))]
    starts = [i for i in range(1, len(values)) if values[i] > 0 and values[i - 1] == 0]
    assert 8 <= len(starts) <= 40
    assert max(values) > 0.7
    closed = sum(1 for v in values if v > 0)
    assert closed * step < len(starts) * 0.25


async def test_start_returns_fast_and_unresolvable_host_is_an_error(engine: EngineDouble) -> None:
    """start() never blocks; a host that cannot be resolved becomes a readable error state."""
    module = VmcModule(VmcSettings(host="no-such-host.invalid", port=39539))
    t = time.perf_counter()
    await module.start(engine)
    assert time.perf_counter() - t < 0.05
    await wait_until(lambda: module.state is ModuleState.ERROR, within=10)
    assert "cannot be resolved" in module.reason
    await module.stop()
