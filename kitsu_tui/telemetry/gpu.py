"""NVIDIA GPU sampling through nvidia-ml-py (pynvml), degrading to a readable reason when there is none."""

from __future__ import annotations

import logging
from typing import Any

from kitsu_tui.engine.events import GpuStat

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    """NVML returns bytes on old bindings and str on new ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class GpuProbe:
    """Opens NVML once and samples every GPU; never raises, reports why there is no GPU instead."""

    def __init__(self, nvml: Any = None) -> None:
        self._nvml = nvml
        self._handles: list[tuple[int, str, Any]] = []
        self.status = "not started"
        """One line: how many GPUs are sampled, or 'no NVIDIA GPU (reason)'."""
        self.opened = False

    def open(self) -> str:
        """Initialise NVML and find the GPUs; returns the status line."""
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml
            except ImportError:
                self.status = "no NVIDIA GPU (nvidia-ml-py is not installed: pip install nvidia-ml-py)"
                return self.status
            self._nvml = nvml = pynvml
        try:
            nvml.nvmlInit()
            self.opened = True
            count = int(nvml.nvmlDeviceGetCount())
            self._handles = []
            for index in range(count):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                self._handles.append((index, _text(nvml.nvmlDeviceGetName(handle)), handle))
        except Exception as exc:  # NVMLError (no driver, no device, permissions) or a broken binding
            self.status = f"no NVIDIA GPU ({_reason(exc)})"
            self._handles = []
            return self.status
        self.status = f"{count} NVIDIA GPU{'s' if count != 1 else ''}" if count else "no NVIDIA GPU (none found)"
        return self.status

    def sample(self) -> tuple[tuple[GpuStat, ...], str]:
        """One GpuStat per readable GPU and the status line (a GPU that fails a required call is left out)."""
        if not self._handles:
            return (), self.status
        stats: list[GpuStat] = []
        failures: list[str] = []
        for index, name, handle in self._handles:
            try:
                stats.append(self._read(index, name, handle))
            except Exception as exc:
                failures.append(f"GPU {index}: {_reason(exc)}")
        if not stats:
            return (), f"no NVIDIA GPU ({'; '.join(failures)})"
        status = f"{len(stats)} NVIDIA GPU{'s' if len(stats) != 1 else ''}"
        return tuple(stats), status + (f" ({'; '.join(failures)})" if failures else "")

    def _read(self, index: int, name: str, handle: Any) -> GpuStat:
        """Utilisation and memory are required; temperature, power and fan are optional per GPU."""
        nvml = self._nvml
        util = nvml.nvmlDeviceGetUtilizationRates(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        temperature = self._optional(lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)))
        power = self._optional(lambda: float(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0)
        fan = self._optional(lambda: float(nvml.nvmlDeviceGetFanSpeed(handle)))
        return GpuStat(
            index=index, name=name, utilization_pct=float(util.gpu),
            memory_used_mb=round(float(memory.used) / 2**20, 1), memory_total_mb=round(float(memory.total) / 2**20, 1),
            temperature_c=temperature, power_w=None if power is None else round(power, 1), fan_pct=fan,
        )

    @staticmethod
    def _optional(read: Any) -> float | None:
        """A reading some GPUs do not support (fanless boards, no power sensor): None instead of an error."""
        try:
            return float(read())
        except Exception:
            return None

    def close(self) -> None:
        """Shut NVML down (once)."""
        if self.opened and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                log.debug("nvmlShutdown failed", exc_info=True)
        self.opened = False
        self._handles = []


def _reason(exc: Exception) -> str:
    """A short reason from an NVMLError (its str is the NVML message) or any other exception."""
    text = str(exc).strip() or type(exc).__name__
    return text if type(exc).__name__.startswith("NVMLError") else f"{type(exc).__name__}: {text}"
