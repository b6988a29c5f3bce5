"""GPU and system stats: every NVIDIA GPU's load, VRAM, temperature, power and fan, plus the process CPU/RSS."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kitsu_tui.engine.events import GpuStat, SystemStatsSampled
from kitsu_tui.tui.text import clean, shorten


def _gpu_lines(gpu: GpuStat) -> Text:
    """Two lines for one GPU: name, then utilisation / VRAM / temperature / power / fan."""
    load_style = "bold red" if gpu.utilization_pct >= 90 else "yellow" if gpu.utilization_pct >= 60 else "green"
    out = Text(f"GPU{gpu.index} {shorten(clean(gpu.name), 24)}\n", style="bold")
    out.append(f" {gpu.utilization_pct:3.0f}%", style=load_style)
    out.append(f" {gpu.memory_used_mb / 1024:.1f}/{gpu.memory_total_mb / 1024:.1f}G")
    if gpu.temperature_c is not None:
        out.append(f" {gpu.temperature_c:.0f}°C", style="bold red" if gpu.temperature_c >= 85 else "")
    if gpu.power_w is not None:
        out.append(f" {gpu.power_w:.0f}W")
    if gpu.fan_pct is not None:
        out.append(f" fan {gpu.fan_pct:.0f}%")
    return out


class SystemStats(Static):
    """Renders the newest SystemStatsSampled (coalesced by the bridge); says clearly when there is no GPU."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text("waiting for the first sample", style="dim"), markup=False, id=id, classes=classes)
        self.sample: SystemStatsSampled | None = None

    def show_unavailable(self, reason: str) -> None:
        """No sampler runs: say why."""
        self.update(Text(clean(reason), style="dim"))

    def on_sample(self, sample: SystemStatsSampled) -> None:
        """Show a new sample."""
        self.sample = sample
        out = Text(f"CPU {sample.cpu_percent:3.0f}%  RSS {sample.rss_mb:,.0f} MB")
        if sample.gpus:
            for gpu in sample.gpus:
                out.append("\n")
                out.append_text(_gpu_lines(gpu))
        else:
            out.append("\nno NVIDIA GPU", style="bold yellow")
            if sample.gpu_status:
                out.append(f"\n{shorten(clean(sample.gpu_status), 60)}", style="dim")
        self.update(out, layout=False)
