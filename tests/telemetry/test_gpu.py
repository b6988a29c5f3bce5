"""GPU telemetry through nvidia-ml-py: no GPU here, and a stand-in NVML module returning fixed numbers."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from kitsu_tui.telemetry.gpu import GpuProbe


class FixedNvml:
    """The pynvml calls kitsu uses, answering fixed numbers; real pynvml.NVMLError for unsupported readings."""

    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, gpus: int = 2, broken_memory: set[int] | None = None, init_error: int | None = None) -> None:
        self.gpus = gpus
        self.broken_memory = broken_memory or set()
        self.init_error = init_error
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return b"NVIDIA H100 80GB HBM3" if handle == 0 else "NVIDIA RTX 4090"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=37 + handle, memory=12)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        if handle in self.broken_memory:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return SimpleNamespace(used=3 * 2**30, total=80 * 2**30, free=77 * 2**30)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 123456  # milliwatts

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        if handle == 0:  # datacenter boards have no fan
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return 45


def test_fixed_numbers_become_gpu_stats() -> None:
    nvml = FixedNvml()
    probe = GpuProbe(nvml)
    assert probe.open() == "2 NVIDIA GPUs"
    gpus, status = probe.sample()
    assert status == "2 NVIDIA GPUs"
    h100, rtx = gpus
    assert (h100.index, h100.name, h100.utilization_pct) == (0, "NVIDIA H100 80GB HBM3", 37.0)
    assert (h100.memory_used_mb, h100.memory_total_mb) == (3072.0, 81920.0)
    assert (h100.temperature_c, h100.power_w, h100.fan_pct) == (61.0, 123.5, None)
    assert (rtx.name, rtx.utilization_pct, rtx.fan_pct) == ("NVIDIA RTX 4090", 38.0, 45.0)
    probe.close()
    probe.close()
    assert nvml.shutdowns == 1


def test_a_gpu_failing_a_required_call_is_left_out() -> None:
    probe = GpuProbe(FixedNvml(broken_memory={0}))
    probe.open()
    gpus, status = probe.sample()
    assert [g.index for g in gpus] == [1]
    assert status == "1 NVIDIA GPU (GPU 0: GPU is lost)"
    every = GpuProbe(FixedNvml(gpus=1, broken_memory={0}))
    every.open()
    assert every.sample() == ((), "no NVIDIA GPU (GPU 0: GPU is lost)")


def test_nvml_init_failure_and_zero_gpus() -> None:
    probe = GpuProbe(FixedNvml(init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED))
    assert probe.open() == "no NVIDIA GPU (Driver Not Loaded)"
    assert probe.sample() == ((), "no NVIDIA GPU (Driver Not Loaded)")
    none = GpuProbe(FixedNvml(gpus=0))
    assert none.open() == "no NVIDIA GPU (none found)" and none.sample() == ((), "no NVIDIA GPU (none found)")


def test_without_nvidia_ml_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    probe = GpuProbe()
    assert probe.open().startswith("no NVIDIA GPU (nvidia-ml-py is not installed")
    assert probe.sample()[0] == ()


def test_real_nvml_on_this_machine() -> None:
    """This machine has no NVIDIA driver: the real binding reports that instead of raising."""
    probe = GpuProbe()
    status = probe.open()
    gpus, sampled = probe.sample()
    probe.close()
    if gpus:  # a machine with a GPU: real numbers
        assert sampled.endswith("GPU") or "GPUs" in sampled
        assert all(0 <= g.utilization_pct <= 100 and g.memory_total_mb > 0 for g in gpus)
    else:
        assert status.startswith("no NVIDIA GPU (") and sampled == status
