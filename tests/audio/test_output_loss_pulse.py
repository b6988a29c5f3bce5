"""A real PulseAudio output vanishing under the Player: the sound server killed, or the sink suspended; then back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.outputs import SoundDeviceOutput
from kitsu_tui.engine.events import Event, ModuleState, ModuleStateChanged, Notice
from kitsu_tui.engine.player import Player

from .pulse_peer import PulsePeer, missing_tools, reinit_portaudio, start_pulse, stop_pulse

RATE = 16000


def tone(seconds: float) -> np.ndarray:
    """A 440 Hz float32 tone at RATE."""
    return (0.4 * np.sin(2 * np.pi * 440 * np.arange(int(RATE * seconds)) / RATE)).astype(np.float32)


async def until(predicate: Callable[[], bool], limit_s: float) -> float:
    """Wait until `predicate()` is true (fails after `limit_s`); returns how long it took."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < limit_s, f"not within {limit_s} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def speaker_states(events: list[Event]) -> list[ModuleState]:
    """The speaker states the player reported, in order."""
    return [e.state for e in events if isinstance(e, ModuleStateChanged) and e.module == "speaker"]


def loss_notices(events: list[Event]) -> list[str]:
    """The 'speakers lost' notices."""
    return [e.message for e in events if isinstance(e, Notice) and "speakers lost" in e.message]


def restart_daemon(peer: PulsePeer, work: Path) -> None:
    """Start pulseaudio again on the same socket and config, with the keep-alive streams (all tracked by peer)."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(work / "run"), HOME=str(work / "home"))
    peer.processes.append(subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(work / "kitsu.pa"), "--daemonize=no", "--exit-idle-time=-1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 10
    while subprocess.run(["pactl", "info"], env=peer.env(), capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "pulseaudio did not come back"
        time.sleep(0.1)
    for sink in ("mic_feed", "kitsu_out"):
        peer.processes.append(subprocess.Popen(
            ["pacat", "-p", "--latency-msec=20", "-d", sink, "--raw", "--format=s16le", "--rate=48000",
             "--channels=2", "/dev/zero"], env=peer.env()))


def suspend(peer: PulsePeer, on: bool) -> None:
    """Suspend (or resume) the kitsu_out sink."""
    subprocess.run(["pactl", "suspend-sink", "kitsu_out", "1" if on else "0"], env=peer.env(), check=True)


@pytest.fixture
def private_pulse() -> Iterator[tuple[PulsePeer, Path]]:
    """A PulseAudio server of this test alone (it gets killed), made PortAudio's server for the test."""
    missing = missing_tools()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PulseAudio peer unavailable: {', '.join(missing)} not installed")
        pytest.skip(f"PulseAudio peer unavailable: {', '.join(missing)} not installed")
    previous = os.environ.get("PULSE_SERVER")
    peer, work = start_pulse()
    os.environ["PULSE_SERVER"] = peer.server
    reinit_portaudio()
    try:
        yield peer, work
    finally:
        stop_pulse(peer, work)
        if previous is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = previous
        reinit_portaudio()


@pytest.mark.peers
async def test_sound_server_killed_mid_sentence_then_back(private_pulse: tuple[PulsePeer, Path]) -> None:
    """Killing pulseaudio is a loss within 2 s (the sentence ends cut, nothing hangs); a restarted server is reopened."""
    peer, work = private_pulse
    events: list[Event] = []
    player = Player(SoundDeviceOutput(None, RATE), events.append)
    player.start()
    try:
        cut = player.enqueue(1, 0, "one two three four five six seven eight nine ten", tone(3.0), RATE)
        await asyncio.sleep(0.8)
        daemon = peer.processes[0]
        daemon.kill()
        daemon.wait(5)
        heard = await asyncio.wait_for(cut.done, 2.0)
        assert heard.startswith("one") and not heard.endswith("ten"), heard
        assert player.lost is not None and "stopped" in player.lost
        assert speaker_states(events) == [ModuleState.ERROR] and len(loss_notices(events)) == 1
        unheard = player.enqueue(2, 0, "nobody hears this", tone(0.5), RATE)
        assert await asyncio.wait_for(unheard.done, 0.5) == ""

        await asyncio.to_thread(restart_daemon, peer, work)
        await until(lambda: player.lost is None, 12.0)
        assert speaker_states(events) == [ModuleState.ERROR, ModuleState.ON] and len(loss_notices(events)) == 1
        with peer.record("kitsu_out.monitor") as recorded:
            back = player.enqueue(3, 0, "heard again", tone(0.5), RATE)
            assert await asyncio.wait_for(back.done, 3.0) == "heard again"
        assert (np.abs(recorded[0]) > 0.1).sum() > RATE * 0.3, "the reopened stream really plays"
    finally:
        await asyncio.wait_for(player.close(), 5)


@pytest.mark.peers
async def test_suspended_sink_is_a_stall_then_resumed(pulse: PulsePeer) -> None:
    """A suspended sink stops the callbacks: lost within ~2 s, still lost while suspended, reopened once resumed."""
    events: list[Event] = []
    output = SoundDeviceOutput(None, RATE)
    output.start_grace_s = 1.0  # the keep-alive streams keep this null sink pulling from the first block
    player = Player(output, events.append)
    player.start()
    try:
        segment = player.enqueue(1, 0, "a long sentence that stops halfway through", tone(3.0), RATE)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(suspend, pulse, True)
        noticed = await until(lambda: player.lost is not None, 2.5)
        assert noticed < 2.0 and "stopped taking audio" in str(player.lost)
        assert await asyncio.wait_for(segment.done, 0.5) != segment.text
        await asyncio.sleep(2.5)  # the reopen tried at 1 s opens a stream that is never pulled from
        assert player.lost is not None and speaker_states(events) == [ModuleState.ERROR]
    finally:
        await asyncio.to_thread(suspend, pulse, False)
    try:
        await until(lambda: player.lost is None, 10.0)
        back = player.enqueue(2, 0, "heard again", tone(0.3), RATE)
        assert await asyncio.wait_for(back.done, 3.0) == "heard again"
        assert speaker_states(events) == [ModuleState.ERROR, ModuleState.ON] and len(loss_notices(events)) == 1
    finally:
        await asyncio.wait_for(player.close(), 5)
