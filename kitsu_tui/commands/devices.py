"""`kitsu devices [--json]`: list audio devices as a table or JSON, and explain an empty list."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from kitsu_tui.audio.devices import DeviceInfo, probe_devices


def format_table(devices: list[DeviceInfo]) -> str:
    """A fixed-width table: index, in/out channels, default rate, defaults, host API, name."""
    header = f"{'idx':>3}  {'in':>3}  {'out':>3}  {'rate':>6}  {'default':<7}  {'host api':<10}  name"
    lines = [header, "-" * len(header)]
    for dev in devices:
        marks = ("in" if dev.is_default_input else "") + (
            "/" if dev.is_default_input and dev.is_default_output else ""
        )
        marks += "out" if dev.is_default_output else ""
        lines.append(
            f"{dev.index:>3}  {dev.max_input_channels:>3}  {dev.max_output_channels:>3}  "
            f"{int(dev.default_samplerate):>6}  {marks:<7}  {dev.hostapi[:10]:<10}  {dev.name}"
        )
    return "\n".join(lines)


def devices_command(as_json: bool = False, out: TextIO | None = None) -> int:
    """Print the audio devices (table or JSON); with none, print why and how to fix it. Always exits 0."""
    stream = out if out is not None else sys.stdout
    probe = probe_devices()
    if as_json:
        payload = {"devices": [d.to_dict() for d in probe.devices], "reason": probe.reason}
        stream.write(json.dumps(payload, indent=2) + "\n")
        return 0
    if not probe.devices:
        stream.write((probe.reason or "no audio devices found") + "\n")
        return 0
    stream.write(format_table(probe.devices) + "\n")
    stream.write("Use a name (exactly as shown) or an index for audio.input_device / audio.output_device.\n")
    return 0
