"""PortAudio devices through sounddevice: list them, resolve one by exact name or index, open and close its streams."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from kitsu_tui.audio.base import AudioDeviceError

DeviceKind = Literal["input", "output"]


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device as kitsu shows it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool
    is_default_output: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)

    def supports(self, kind: DeviceKind) -> bool:
        """True when the device has channels in the given direction."""
        return (self.max_input_channels if kind == "input" else self.max_output_channels) > 0


@dataclass(frozen=True, slots=True)
class DeviceProbe:
    """The result of asking PortAudio for devices: the list, or why it is empty."""

    devices: list[DeviceInfo]
    reason: str | None


def _pulse_server_hint() -> str:
    """Say whether a PulseAudio/PipeWire server looks reachable, for the no-devices message."""
    server = os.environ.get("PULSE_SERVER")
    if server:
        return f"PULSE_SERVER={server} does not answer"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    if Path(runtime, "pulse", "native").exists():
        return "the PulseAudio server does not answer"
    return "no PulseAudio server"


def _sound_card_hint() -> str:
    """Say whether the kernel sees any sound card."""
    try:
        cards = Path("/proc/asound/cards").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "no sound card"
    return "no sound card" if not cards or "no soundcards" in cards else "the sound card is busy or unusable"


def no_devices_reason() -> str:
    """One line telling why nothing is listed and what to do about it."""
    return (
        f"no audio devices found: {_sound_card_hint()} and {_pulse_server_hint()}; "
        "start PulseAudio (tests/peers/virtual_audio.sh makes a virtual one) or pass --input FILE.wav"
    )


def probe_devices(refresh: bool = False) -> DeviceProbe:
    """List usable devices (with channels); never raises: an empty list comes with a reason line."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return DeviceProbe(
            [], f"no audio devices found: PortAudio is unavailable ({exc}); apt install libportaudio2"
        )
    try:
        if refresh:
            sd._terminate()
            sd._initialize()
        raw_devices = list(sd.query_devices())
        hostapis = [str(api["name"]) for api in sd.query_hostapis()]
        default_in, default_out = _defaults(sd)
    except Exception as exc:  # PortAudioError, or a broken ALSA config
        return DeviceProbe([], f"{no_devices_reason()} (PortAudio: {exc})")
    devices = []
    for raw in raw_devices:
        info = DeviceInfo(
            index=int(raw["index"]),
            name=str(raw["name"]),
            hostapi=hostapis[int(raw["hostapi"])] if 0 <= int(raw["hostapi"]) < len(hostapis) else "?",
            max_input_channels=int(raw["max_input_channels"]),
            max_output_channels=int(raw["max_output_channels"]),
            default_samplerate=float(raw["default_samplerate"]),
            is_default_input=int(raw["index"]) == default_in,
            is_default_output=int(raw["index"]) == default_out,
        )
        if info.max_input_channels > 0 or info.max_output_channels > 0:
            devices.append(info)
    return DeviceProbe(devices, None if devices else no_devices_reason())


def _defaults(sd: Any) -> tuple[int, int]:
    """The default input and output device indices (-1 when there is none)."""
    pair = sd.default.device
    try:
        default_in, default_out = int(pair[0]), int(pair[1])
    except (TypeError, ValueError, IndexError):
        default_in = default_out = -1
    return default_in, default_out


def list_devices(refresh: bool = False) -> list[DeviceInfo]:
    """Usable PortAudio devices; [] with no sound card and no sound server (see probe_devices for the reason)."""
    return probe_devices(refresh).devices


def find_device(
    name_or_index: str | int | None, kind: DeviceKind, devices: list[DeviceInfo] | None = None
) -> DeviceInfo:
    """Resolve a device by exact name, index (int or digits) or None for the default; else AudioDeviceError."""
    if devices is None:
        probe = probe_devices()
        if not probe.devices:
            raise AudioDeviceError(probe.reason or no_devices_reason())
        devices = probe.devices
    usable = [d for d in devices if d.supports(kind)]
    match: DeviceInfo | None = None
    if name_or_index is None:
        flag = "is_default_input" if kind == "input" else "is_default_output"
        match = next((d for d in usable if getattr(d, flag)), usable[0] if usable else None)
    elif isinstance(name_or_index, int) or (
        isinstance(name_or_index, str) and name_or_index.strip().isdigit()
    ):
        wanted = int(name_or_index)
        match = next((d for d in usable if d.index == wanted), None)
        if match is None and isinstance(name_or_index, str):
            match = next((d for d in usable if d.name == name_or_index), None)
    else:
        match = next((d for d in usable if d.name == name_or_index), None)
    if match is not None:
        return match
    what = "default" if name_or_index is None else repr(name_or_index)
    available = ", ".join(f"{d.index}: {d.name!r}" for d in usable) or "none"
    raise AudioDeviceError(
        f"{kind} device {what} not found; available {kind} devices: {available} (run `kitsu devices`)"
    )


def pick_stream_format(check: Any, index: int, preferred_rate: int, default_rate: float, max_channels: int,
                       kind: str) -> tuple[int, int]:
    """First (rate, channels) the device accepts: the preferred rate and mono first, then its own rate, 48k, 44.1k."""
    for rate in (preferred_rate, int(default_rate), 48000, 44100):
        for channels in (1, 2):
            if channels > max(1, max_channels):
                continue
            try:
                check(device=index, samplerate=rate, channels=channels, dtype="float32")
            except Exception:  # PortAudioError or ValueError: this combination is not supported
                continue
            return rate, channels
    raise AudioDeviceError(
        f"{kind} device {index} accepts none of {preferred_rate}/{int(default_rate)}/48000/44100 Hz float32"
    )


def open_stream(sd: Any, kind: Literal["input", "output"], name: str, **options: Any) -> Any:
    """Create and start a PortAudio input or output stream; a refusal becomes one readable AudioDeviceError."""
    make = sd.InputStream if kind == "input" else sd.OutputStream
    try:
        stream = make(dtype="float32", **options)
        stream.start()
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot open {kind} device {name!r}: {exc}; pick another with `kitsu devices`") from None
    return stream


def close_stream(stream: Any) -> None:
    """Stop and close a PortAudio stream; one whose device vanished is aborted instead (shutdown never breaks)."""
    try:
        stream.stop()
        stream.close()
    except Exception:
        with contextlib.suppress(Exception):
            stream.abort()
