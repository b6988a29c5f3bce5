"""SystemMonitor as an engine module: samples on its thread arrive as SystemStatsSampled events, with or without GPU."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import numpy as np
import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import ModuleState, SystemStatsSampled
from kitsu_tui.telemetry.gpu import GpuProbe
from kitsu_tui.telemetry.system import SystemMonitor, build_system_monitor, current_rss_mb, peak_rss_mb
from tests.engine.conftest import make_persona, make_settings

from .test_gpu import FixedNvml


async def started_engine() -> Engine:
    engine = Engine(make_settings(), make_persona(), Backends(FakeVad(), FakeAsr(), FakeLlm(), FakeTts()),
                    NullOutput(16000), analyzer=lambda block, rate: (0.0, (0.0,) * 5))
    await engine.start()
    return engine


async def collect(engine: Engine, count: int) -> list[SystemStatsSampled]:
    sub = engine.bus.subscribe("test", max_lossy=100)
    samples: list[SystemStatsSampled] = []
    async for event in sub:
        if isinstance(event, SystemStatsSampled):
            samples.append(event)
            if len(samples) == count:
                break
    sub.close()
    return samples


async def test_monitor_with_fixed_gpu_numbers() -> None:
    engine = await started_engine()
    nvml = FixedNvml()
    monitor = SystemMonitor(interval_s=0.05, probe=GpuProbe(nvml))
    engine.register_module(monitor)
    try:
        await engine.toggle_module("telemetry", True)
        state, reason = engine.module_states["telemetry"]
        assert state == ModuleState.ON and "2 NVIDIA GPUs" in reason and "0.05" in reason
        samples = await asyncio.wait_for(collect(engine, 3), 5)
        assert all(s.gpu_status == "2 NVIDIA GPUs" and len(s.gpus) == 2 for s in samples)
        assert samples[0].gpus[0].memory_used_mb == 3072.0 and samples[0].gpus[1].fan_pct == 45.0
        assert all(s.rss_mb > 10 and s.cpu_percent >= 0 for s in samples)
        assert samples[0].ts < samples[1].ts < samples[2].ts
        assert monitor.latest is not None and monitor.peak_rss_mb >= samples[0].rss_mb
        await engine.toggle_module("telemetry", False)
        assert engine.module_states["telemetry"][0] == ModuleState.OFF
        assert nvml.shutdowns == 1
        assert not any(t.name == "kitsu-telemetry" for t in threading.enumerate())
    finally:
        await engine.stop()


async def test_monitor_without_gpu_keeps_sampling_the_process() -> None:
    engine = await started_engine()
    engine.register_module(SystemMonitor(interval_s=0.05))  # the real pynvml: no driver on this machine
    try:
        await engine.toggle_module("telemetry", True)
        samples = await asyncio.wait_for(collect(engine, 2), 5)
        if not samples[0].gpus:
            assert all(s.gpu_status.startswith("no NVIDIA GPU (") for s in samples)
            assert "no NVIDIA GPU" in engine.module_states["telemetry"][1]
        assert samples[-1].rss_mb == pytest.approx(current_rss_mb(), rel=0.2)
    finally:
        await engine.stop()  # stops the module too
    assert not any(t.name == "kitsu-telemetry" for t in threading.enumerate())


def test_cpu_percent_sees_work() -> None:
    monitor = SystemMonitor(probe=GpuProbe(FixedNvml(gpus=0)))
    monitor.sample()
    matrix = np.random.default_rng(0).random((300, 300))
    for _ in range(40):
        matrix = matrix @ matrix / 300.0
    sample = monitor.sample()
    assert sample.cpu_percent > 0 and sample.gpus == () and sample.gpu_status == "not started"
    assert peak_rss_mb() >= current_rss_mb() * 0.9


def test_a_child_of_a_big_process_reports_its_own_peak() -> None:
    """A process started by one holding 600 MB (as `kitsu soak` under pytest) reads its own peak, not the parent's:
    getrusage's high-water mark survives exec on Linux."""
    ballast = np.ones(600 * 2**20 // 8)  # touched pages: resident
    code = "from kitsu_tui.telemetry.system import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert ballast.sum() > 0 and current_rss_mb() > 600
    assert child < 400, f"the child read {child} MB"


def test_settings_section() -> None:
    settings = Settings()
    assert settings.telemetry.enabled and settings.telemetry.interval_s == 2.0
    monitor = build_system_monitor(settings.with_values({"telemetry.interval_s": 0.5}))
    assert monitor is not None and monitor.interval_s == 0.5 and monitor.name == "telemetry"
    assert build_system_monitor(settings.with_values({"telemetry.enabled": False})) is None
    with pytest.raises(ValueError):
        settings.with_values({"telemetry.interval_s": 0.0})
