"""VTube Studio module against the suite's own fake VTS plugin-API server."""

from __future__ import annotations

import asyncio
import socket
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kitsu_tui.config.persona import MoodSpec, Persona
from kitsu_tui.config.settings import VtsSettings
from kitsu_tui.engine.events import ModuleState, MoodChanged, MouthUpdated
from kitsu_tui.integrations.vtube_studio import VtsModule

from .conftest import wait_until
from .engine_double import EngineDouble
from .fake_vts import FakeVTS


@pytest.fixture
async def vts() -> AsyncIterator[tuple[FakeVTS, int]]:
    """A running fake VTS and its port."""
    fake = FakeVTS()
    port = await fake.start()
    yield fake, port
    await fake.stop()


def make(port: int, tmp_path: Path) -> VtsModule:
    """A VTS module pointed at the fake with its token under tmp_path."""
    return VtsModule(VtsSettings(url=f"ws://127.0.0.1:{port}"), tmp_path / "data" / "vts_token")


async def speak(engine: EngineDouble, seconds: float) -> tuple[float, float]:
    """Emit a rising-and-falling mouth signal at 40 Hz; returns (start, end) monotonic times."""
    t0 = time.monotonic()
    frames = int(seconds * 40)
    for i in range(frames):
        engine.bus.emit(MouthUpdated(value=(i % 8) / 7))
        await asyncio.sleep(0.025)
    return t0, time.monotonic()


async def test_first_run_token_mouth_and_mood(vts: tuple[FakeVTS, int], tmp_path: Path) -> None:
    """Token requested and stored 0600; MouthOpen follows the signal at >= 30 Hz; mood reaches an expression."""
    fake, port = vts
    engine = EngineDouble(Persona(name="kitsu", moods={"happy": MoodSpec(expression="happy.exp3.json", hotkey="Wave")}))
    module = make(port, tmp_path)
    await module.start(engine)
    try:
        await wait_until(lambda: module.state is ModuleState.ON)
        token_file = tmp_path / "data" / "vts_token"
        assert token_file.read_text() == fake.token
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        engine.bus.emit(MoodChanged(mood="happy"))
        t0, t1 = await speak(engine, 1.0)
        await asyncio.sleep(0.6)
        await wait_until(lambda: fake.expressions["happy.exp3.json"])
        assert fake.triggered == ["Wave"]
        silent_start = time.monotonic()
        await asyncio.sleep(1.2)
    finally:
        await module.stop()
    during = [(t, f) for t, f in fake.injections if t0 + 0.1 < t < t1]
    assert len(during) / (t1 - t0 - 0.1) >= 30, f"{len(during)} frames in {t1 - t0 - 0.1:.2f} s"
    mouth = [f["MouthOpen"] for _, f in during]
    assert max(mouth) >= 0.8 and min(mouth) <= 0.2
    rises = sum(1 for a, b in zip(mouth, mouth[1:], strict=False) if b > a)
    falls = sum(1 for a, b in zip(mouth, mouth[1:], strict=False) if b < a)
    assert rises >= 5 and falls >= 2
    assert during[-1][1]["MouthSmile"] == pytest.approx(1.0)
    silent = [t for t, f in fake.injections if t > silent_start]
    assert silent and all(f["MouthOpen"] == 0.0 for t, f in fake.injections if t > silent_start)
    gaps = [b - a for a, b in zip(silent, silent[1:], strict=False)]
    assert max(gaps, default=0) < 1.0 and len(silent) >= 2  # re-sent at least once a second


async def test_stored_token_reused_and_rejected_token_replaced(vts: tuple[FakeVTS, int], tmp_path: Path) -> None:
    """A valid stored token needs no Allow click; a revoked one is replaced by a new request."""
    fake, port = vts
    token_file = tmp_path / "data" / "vts_token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text(fake.token)
    engine = EngineDouble()
    module = make(port, tmp_path)
    await module.start(engine)
    await wait_until(lambda: module.state is ModuleState.ON)
    await module.stop()
    assert fake.token_requests == 0
    fake.token = "rotated-token-456"
    await module.start(engine)
    await wait_until(lambda: module.state is ModuleState.ON)
    await module.stop()
    assert fake.token_requests == 1
    assert token_file.read_text() == "rotated-token-456"
    assert fake.auth_attempts[-2:] == [("fake-token-123", False), ("rotated-token-456", True)]


async def test_denied_by_user_stops_asking(vts: tuple[FakeVTS, int], tmp_path: Path) -> None:
    """Deny (error 50) is a clear error state and kitsu does not nag with new requests."""
    fake, port = vts
    fake.deny = True
    engine = EngineDouble()
    module = make(port, tmp_path)
    await module.start(engine)
    await wait_until(lambda: module.state is ModuleState.ERROR)
    await asyncio.sleep(1.0)
    assert "denied by user" in module.reason
    assert fake.token_requests == 1
    fake.deny = False  # the streamer turns vts on again from the console and clicks Allow this time
    await module.start(engine)
    await wait_until(lambda: module.state is ModuleState.ON)
    assert fake.token_requests == 2
    await module.stop()


async def test_api_access_off_is_reported(vts: tuple[FakeVTS, int], tmp_path: Path) -> None:
    """Error 1 (API access deactivated) reads as 'VTS API off'."""
    fake, port = vts
    fake.api_access_off = True
    module = make(port, tmp_path)
    await module.start(EngineDouble())
    await wait_until(lambda: module.state is ModuleState.ERROR)
    assert module.reason.startswith("VTS API off")
    await module.stop()


async def test_parameter_controlled_by_other_plugin(vts: tuple[FakeVTS, int], tmp_path: Path) -> None:
    """Error 454 shows a clear state; kitsu retries and is back on when the other plugin lets go."""
    fake, port = vts
    engine = EngineDouble()
    module = make(port, tmp_path)
    await module.start(engine)
    await wait_until(lambda: module.state is ModuleState.ON)
    fake.other_plugin_controls.add("MouthOpen")
    await wait_until(lambda: module.state is ModuleState.ERROR)
    assert "controlled by another plugin" in module.reason
    fake.other_plugin_controls.clear()
    await wait_until(lambda: module.state is ModuleState.ON, within=6)
    await module.stop()


async def test_nothing_listening_does_not_delay_start(tmp_path: Path) -> None:
    """start() returns in < 50 ms with no VTS; the state says the API is off; it connects when VTS appears."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = EngineDouble()
    module = make(port, tmp_path)
    t = time.perf_counter()
    await module.start(engine)
    assert time.perf_counter() - t < 0.05
    await wait_until(lambda: module.state is ModuleState.ERROR)
    assert module.reason.startswith("VTS API off: nothing answers")
    fake = FakeVTS()
    await fake.start(port)
    try:
        await wait_until(lambda: module.state is ModuleState.ON, within=10)
        await fake.stop()  # VTS quits mid-session
        await wait_until(lambda: module.state is ModuleState.ERROR, within=5)
        await fake.start(port)
        await wait_until(lambda: module.state is ModuleState.ON, within=20)
    finally:
        await module.stop()
        await fake.stop()
