"""Real PulseAudio null sinks: device listing, mic capture, speaker playback, `kitsu devices`, and no-server behaviour."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.base import AudioDeviceError
from kitsu_tui.audio.devices import find_device, list_devices
from kitsu_tui.audio.inputs import MicInput
from kitsu_tui.audio.outputs import SoundDeviceOutput, open_output
from kitsu_tui.audio.wav import write_wav
from kitsu_tui.commands.devices import devices_command

from .pulse_peer import PulsePeer, peak_frequency

REPO = Path(__file__).resolve().parents[2]


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    """A float32 sine."""
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


async def _capture(mic: MicInput, seconds: float) -> np.ndarray:
    """Collect `seconds` of frames from a MicInput."""
    collected: list[np.ndarray] = []

    async def read() -> None:
        async for frame in mic.frames():
            collected.append(frame.samples)
            assert frame.samples.shape == (mic.frame_samples,)

    reader = asyncio.create_task(read())
    await asyncio.sleep(seconds)
    mic.close()
    await asyncio.wait_for(reader, 3.0)
    return np.concatenate(collected) if collected else np.zeros(0, dtype=np.float32)


@pytest.mark.peers
def test_list_devices_sees_pulse_and_default(pulse: PulsePeer) -> None:
    """PortAudio (ALSA -> pulse plugin) lists `pulse` and `default`, both duplex, one marked default."""
    devices = {d.name: d for d in list_devices()}
    assert {"pulse", "default"} <= set(devices)
    for name in ("pulse", "default"):
        assert devices[name].max_input_channels > 0 and devices[name].max_output_channels > 0
        assert devices[name].hostapi == "ALSA"
    assert any(d.is_default_input for d in devices.values())
    assert find_device("pulse", "input").index == devices["pulse"].index
    assert find_device(str(devices["pulse"].index), "output").name == "pulse"


@pytest.mark.peers
def test_missing_device_lists_what_is_available(pulse: PulsePeer) -> None:
    """A wrong device name is one line naming it and the devices there are."""
    with pytest.raises(AudioDeviceError) as info:
        find_device("Blue Yeti", "input")
    message = str(info.value)
    assert "'Blue Yeti' not found" in message and "'pulse'" in message and "'default'" in message
    assert "\n" not in message


@pytest.mark.peers
async def test_mic_records_a_440_hz_tone(pulse: PulsePeer, tmp_path: Path) -> None:
    """A 440 Hz WAV played into mic_feed comes out of MicInput (default source kitsu_mic) at 440 Hz, 16 kHz frames."""
    wav = tmp_path / "a440.wav"
    write_wav(wav, _tone(440.0, 1.5, 48000), 48000)
    mic = MicInput(None, frame_ms=32)
    collected: list[np.ndarray] = []
    stamps: list[float] = []

    async def read() -> None:
        async for frame in mic.frames():
            collected.append(frame.samples)
            stamps.append(frame.captured_at)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    player = await asyncio.create_subprocess_exec(
        "paplay", "--latency-msec=20", "-d", "mic_feed", str(wav), env=pulse.env()
    )
    assert await asyncio.wait_for(player.wait(), 10) == 0
    await asyncio.sleep(0.3)
    mic.close()
    await asyncio.wait_for(reader, 3.0)
    audio = np.concatenate(collected)
    assert all(block.shape == (512,) for block in collected)
    loud = audio[np.abs(audio) > 0.1]
    assert loud.size > 16000, "the tone did not reach the microphone"
    start = int(np.argmax(np.abs(audio) > 0.1))
    assert abs(peak_frequency(audio[start + 1600 : start + 17600], 16000) - 440.0) < 3.0
    assert 0.3 < float(np.abs(audio).max()) < 0.7
    assert np.all(np.diff(stamps) > 0) and abs(stamps[-1] - time.monotonic()) < 1.0
    assert mic.dropped_blocks == 0


@pytest.mark.peers
def test_speakers_play_a_tone_into_kitsu_out(pulse: PulsePeer) -> None:
    """SoundDeviceOutput at 22.05 kHz plays 660 Hz; parec on kitsu_out.monitor hears 660 Hz for ~1 s."""
    out = SoundDeviceOutput(None, sample_rate=22050)
    out.start()
    try:
        with pulse.record("kitsu_out.monitor") as recorded:
            time.sleep(0.3)
            out.write(_tone(660.0, 1.0, 22050))
            deadline = time.monotonic() + 5
            while out.played_samples < 22050 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert out.played_samples == 22050 and out.queued_samples == 0
            time.sleep(0.4)
    finally:
        out.close()
    audio = recorded[0]
    active = np.abs(audio) > 0.1
    assert active.any(), "nothing reached kitsu_out"
    first, last = int(np.argmax(active)), len(active) - int(np.argmax(active[::-1]))
    assert 0.9 < (last - first) / 16000 < 1.1
    assert abs(peak_frequency(audio[first:last], 16000) - 660.0) < 3.0


@pytest.mark.peers
def test_clear_silences_the_real_device_quickly(pulse: PulsePeer) -> None:
    """After clear() on a 5 s reply, the monitor goes quiet within ~150 ms (ring block + device latency)."""
    out = SoundDeviceOutput(None, sample_rate=16000)
    out.start()
    try:
        with pulse.record("kitsu_out.monitor") as recorded:
            time.sleep(0.3)
            out.write(_tone(500.0, 5.0, 16000))
            time.sleep(0.8)
            dropped = out.clear()
            played_at_clear = out.played_samples
            time.sleep(0.8)
            assert out.played_samples - played_at_clear <= 320  # at most one 20 ms block after clear()
    finally:
        out.close()
    assert dropped > 16000 * 3
    audio = recorded[0]
    active = np.flatnonzero(np.abs(audio) > 0.1)
    heard = (active[-1] - active[0]) / 16000
    assert 0.6 < heard < 1.0, heard  # ~0.8 s played, then silence: not the full 5 s


@pytest.mark.peers
async def test_devices_json_names_open_with_mic_input(pulse: PulsePeer) -> None:
    """`kitsu devices --json` parses; the listed input device `pulse` opens by exact name and yields frames."""
    buffer = StringIO()
    assert devices_command(as_json=True, out=buffer) == 0
    payload = json.loads(buffer.getvalue())
    assert payload["reason"] is None
    names = [d["name"] for d in payload["devices"] if d["max_input_channels"] > 0]
    assert "pulse" in names
    table = StringIO()
    assert devices_command(as_json=False, out=table) == 0
    assert "pulse" in table.getvalue() and "idx" in table.getvalue()
    mic = MicInput("pulse")
    audio = await _capture(mic, 0.5)
    assert mic.name == "pulse"
    assert audio.size >= 512 * 8


@pytest.mark.peers
def test_open_output_falls_back_to_null_for_a_missing_device(pulse: PulsePeer) -> None:
    """A configured speaker that does not exist leaves kitsu running on a NullOutput, with the reason."""
    output, reason = open_output("No Such Speakers", 22050)
    try:
        assert output.name == "null (no speakers)"
        assert reason is not None and "'No Such Speakers' not found" in reason and "null sink" in reason
    finally:
        output.close()


def _asound_cards() -> bool:
    """True when the kernel has a sound card (then 'no devices' cannot be simulated by hiding PulseAudio)."""
    try:
        text = Path("/proc/asound/cards").read_text()
    except OSError:
        return False
    return bool(text.strip()) and "no soundcards" not in text


@pytest.mark.skipif(
    _asound_cards(), reason="this machine has a real sound card, so devices are listed anyway"
)
@pytest.mark.parametrize("as_json", [False, True])
def test_no_server_lists_nothing_and_exits_zero(tmp_path: Path, as_json: bool) -> None:
    """With PULSE_SERVER pointing nowhere, `kitsu devices` prints the clear message and exits 0 (fresh PortAudio)."""
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/nowhere", PYTHONPATH=str(REPO))
    code = (
        "import sys; from kitsu_tui.commands.devices import devices_command; "
        f"sys.exit(devices_command(as_json={as_json}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if as_json:
        payload = json.loads(result.stdout)
        assert payload["devices"] == []
        message = payload["reason"]
    else:
        message = result.stdout.strip()
    assert message.startswith("no audio devices found: no sound card and PULSE_SERVER=unix:")
    assert "does not answer" in message and "--input FILE.wav" in message
    probe = (
        "from kitsu_tui.audio.inputs import MicInput\n"
        "from kitsu_tui.audio.base import AudioDeviceError\n"
        "import asyncio\n"
        "async def main():\n"
        "    try:\n"
        "        MicInput(None).start()\n"
        "    except AudioDeviceError as exc:\n"
        "        print('ERR', exc)\n"
        "asyncio.run(main())\n"
    )
    opened = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert opened.stdout.startswith("ERR no audio devices found"), opened.stdout + opened.stderr


@pytest.mark.peers
async def test_mic_captures_at_device_rate_and_resamples(
    pulse: PulsePeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When 16 kHz mono is refused, MicInput records 48 kHz stereo and still yields 512-sample 16 kHz frames at 440 Hz."""
    monkeypatch.setattr(MicInput, "_pick_format", lambda self, sd, index, rate, channels: (48000, 2))
    wav = tmp_path / "a440.wav"
    write_wav(wav, _tone(440.0, 1.0, 44100), 44100)
    mic = MicInput("default")
    reader = asyncio.create_task(_capture(mic, 1.6))
    await asyncio.sleep(0.3)
    player = pulse.feed_mic(wav)
    audio = await reader
    assert await asyncio.to_thread(player.wait, 5) == 0
    assert mic.capture_rate == 48000
    start = int(np.argmax(np.abs(audio) > 0.1))
    assert np.count_nonzero(np.abs(audio) > 0.1) > 8000
    assert abs(peak_frequency(audio[start + 800 : start + 12800], 16000) - 440.0) < 3.0


@pytest.mark.peers
def test_speakers_at_device_rate_feed_lipsync(pulse: PulsePeer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output resampled 22.05 -> 48 kHz stereo: counters stay in caller samples and last_block drives lipsync."""
    from kitsu_tui.audio.lipsync import LipsyncAnalyzer

    monkeypatch.setattr(SoundDeviceOutput, "_pick_format", lambda self, sd, index, rate, channels: (48000, 2))
    out = SoundDeviceOutput("pulse", sample_rate=22050)
    out.start()
    analyzer = LipsyncAnalyzer()
    mouths: list[float] = []
    try:
        assert out.device_rate == 48000
        out.write(_tone(220.0, 0.8, 22050, amp=0.3))
        deadline = time.monotonic() + 3
        while out.queued_samples > 0 and time.monotonic() < deadline:
            block = out.last_block()
            mouths.append(analyzer.analyze(block, out.sample_rate)[0])
            time.sleep(0.025)
        assert abs(out.played_samples - int(0.8 * 22050)) <= 2
        time.sleep(0.1)
        assert out.last_block().size == 0
    finally:
        out.close()
    assert max(mouths) > 0.8


@pytest.mark.peers
def test_mic_can_be_checked_before_the_loop_runs(pulse: PulsePeer) -> None:
    """start() outside any event loop opens the device (startup check); frames() later binds the loop."""
    mic = MicInput(None)
    mic.start()
    assert mic.name == "default"

    async def read_some() -> int:
        count = 0
        async for _ in mic.frames():
            count += 1
            if count == 5:
                mic.close()
        return count

    assert asyncio.run(read_some()) >= 5
