"""SystemMonitor: an engine module that samples process CPU/RSS and NVIDIA GPUs on a thread as events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from kitsu_tui.engine.events import ModuleState, SystemStatsSampled
from kitsu_tui.telemetry.gpu import GpuProbe

if TYPE_CHECKING:
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import EngineApi

log = logging.getLogger(__name__)


class ProcessSampler:
    """Process CPU % (since the previous sample, may exceed 100 on several cores) and resident memory."""

    def __init__(self, process: Any = None) -> None:
        self.process = process or psutil.Process()
        self.process.cpu_percent(None)  # the first call only primes the counter

    def sample(self) -> tuple[float, float]:
        """(cpu_percent, rss_mb) now."""
        return float(self.process.cpu_percent(None)), round(self.process.memory_info().rss / 2**20, 1)


def current_rss_mb() -> float:
    """This process's resident memory in MiB."""
    rss: int = psutil.Process().memory_info().rss
    return round(rss / 2**20, 1)


def peak_rss_mb() -> float:
    """The highest resident memory this process reached so far: Linux's VmHWM, else getrusage, else the current.

    getrusage's ru_maxrss is not used on Linux: a process started by a big one (pytest with the models loaded, a
    console) inherits the parent's high-water mark across exec, and a 740 MB soak read 2050 MB.
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / 2**20 if sys.platform == "darwin" else peak / 1024, 1)
    except (ImportError, OSError):
        return current_rss_mb()


class SystemMonitor:
    """The "telemetry" module: samples on its own thread every `interval_s` and emits SystemStatsSampled."""

    name = "telemetry"

    def __init__(self, interval_s: float = 2.0, probe: GpuProbe | None = None, process: Any = None) -> None:
        self.interval_s = max(0.05, float(interval_s))
        self.probe = probe or GpuProbe()
        self._process = process
        self._sampler: ProcessSampler | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.latest: SystemStatsSampled | None = None
        """The last sample taken (None before the first)."""
        self.peak_rss_mb = 0.0
        """Highest RSS seen by this monitor."""

    def sample(self) -> SystemStatsSampled:
        """Take one sample now (blocking: call it off the event loop)."""
        if self._sampler is None:
            self._sampler = ProcessSampler(self._process)
        cpu, rss = self._sampler.sample()
        gpus, status = self.probe.sample()
        event = SystemStatsSampled(cpu_percent=cpu, rss_mb=rss, gpus=gpus, gpu_status=status)
        self.latest = event
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        return event

    async def start(self, engine: EngineApi) -> None:
        """Open NVML and start the sampling thread; events reach the bus through the loop."""
        if self._thread is not None:
            return
        loop = asyncio.get_running_loop()
        status = await asyncio.to_thread(self._open)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(loop, engine.emit), name="kitsu-telemetry",
                                        daemon=True)
        self._thread.start()
        engine.set_module_state(self.name, ModuleState.ON, f"every {self.interval_s:g}s; {status}")

    def _open(self) -> str:
        """Blocking setup: NVML init and CPU counter priming."""
        self._sampler = ProcessSampler(self._process)
        return self.probe.open()

    def _run(self, loop: asyncio.AbstractEventLoop, emit: Callable[[Any], None]) -> None:
        """Worker thread: sample, hand the event to the loop, sleep until the next tick or stop."""
        while not self._stop.is_set():
            try:
                event = self.sample()
            except Exception:
                log.exception("telemetry sample failed")
            else:
                try:
                    loop.call_soon_threadsafe(emit, event)
                except RuntimeError:  # the loop closed during shutdown
                    return
            self._stop.wait(self.interval_s)

    async def stop(self) -> None:
        """Stop the thread and shut NVML down."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 2.0)
        self.probe.close()


def build_system_monitor(settings: Settings) -> SystemMonitor | None:
    """The monitor configured by [telemetry], or None when disabled."""
    section = getattr(settings, "telemetry", None)
    if section is not None and not section.enabled:
        return None
    return SystemMonitor(interval_s=section.interval_s if section is not None else 2.0)


async def ensure_telemetry(engine: EngineApi) -> None:
    """Start the configured monitor on an engine that has none yet (bootstrap may have attached one)."""
    if "telemetry" in engine.modules:
        return
    monitor = build_system_monitor(engine.settings)
    if monitor is not None:
        engine.register_module(monitor)
        await engine.toggle_module(monitor.name, True)
