"""A private PulseAudio server with null sinks (same layout as tests/peers/virtual_audio.sh), run from pytest."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1 socket={socket}
load-module module-null-sink sink_name=kitsu_out rate=48000 sink_properties=device.description=KitsuOut
load-module module-null-sink sink_name=mic_feed rate=48000 sink_properties=device.description=MicFeed
load-module module-remap-source master=mic_feed.monitor source_name=kitsu_mic source_properties=device.description=KitsuMic
set-default-sink kitsu_out
set-default-source kitsu_mic
"""


def missing_tools() -> list[str]:
    """PulseAudio programs the peer needs that are not installed."""
    return [
        tool for tool in ("pulseaudio", "pactl", "pacat", "paplay", "parec") if shutil.which(tool) is None
    ]


def _answers(server: str) -> bool:
    """True when `pactl info` reaches the server."""
    env = dict(os.environ, PULSE_SERVER=server)
    return subprocess.run(["pactl", "info"], env=env, capture_output=True, timeout=5).returncode == 0


def _has_kitsu_sinks(server: str) -> bool:
    """True when the server already has the kitsu_out and mic_feed sinks (started by virtual_audio.sh)."""
    env = dict(os.environ, PULSE_SERVER=server)
    listing = subprocess.run(
        ["pactl", "list", "short", "sinks"], env=env, capture_output=True, text=True, timeout=5
    )
    return "kitsu_out" in listing.stdout and "mic_feed" in listing.stdout


@dataclass
class PulsePeer:
    """A running PulseAudio server and helpers to feed the virtual mic and record the virtual speakers."""

    server: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment for subprocesses talking to this server."""
        return dict(os.environ, PULSE_SERVER=self.server)

    def feed_mic(self, wav: Path) -> subprocess.Popen[bytes]:
        """Play a WAV into mic_feed (heard on the default source kitsu_mic)."""
        return subprocess.Popen(["paplay", "--latency-msec=20", "-d", "mic_feed", str(wav)], env=self.env())

    @contextmanager
    def record(self, source: str, rate: int = 16000) -> Iterator[list[np.ndarray]]:
        """Record float32 mono from `source` while the block runs; the list gets the audio on exit.

        A thread drains parec's pipe continuously, and on exit we wait until the recording covers the
        wall time elapsed (parec delivers in bursts and drops its buffer when terminated).
        """
        proc = subprocess.Popen(
            [
                "parec",
                "-d",
                source,
                "--format=float32le",
                f"--rate={rate}",
                "--channels=1",
                "--latency-msec=20",
            ],
            env=self.env(),
            stdout=subprocess.PIPE,
        )
        stdout = proc.stdout
        assert isinstance(stdout, io.BufferedReader)  # buffered by default: read1() returns what is there
        chunks: list[bytes] = []
        reader = threading.Thread(
            target=lambda: chunks.extend(iter(lambda: stdout.read1(4096), b"")), daemon=True
        )
        reader.start()
        started = time.monotonic()
        captured: list[np.ndarray] = []
        try:
            yield captured
        finally:
            wanted = (time.monotonic() - started - 0.15) * rate * 4
            deadline = time.monotonic() + 3.0
            while sum(len(c) for c in chunks) < wanted and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.terminate()
            proc.wait(timeout=5)
            reader.join(timeout=5)
            data = b"".join(chunks)
            captured.append(np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").copy())


def start_pulse() -> tuple[PulsePeer, Path]:
    """Start pulseaudio with the kitsu config plus keep-alive streams; returns the peer and its work dir."""
    work = Path(tempfile.mkdtemp(prefix="kitsu-pulse-"))
    (work / "run").mkdir()
    (work / "home").mkdir()
    socket = work / "run" / "native"
    (work / "kitsu.pa").write_text(CONFIG.format(socket=socket), encoding="utf-8")
    server = f"unix:{socket}"
    env = dict(os.environ, XDG_RUNTIME_DIR=str(work / "run"), HOME=str(work / "home"))
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "-F", str(work / "kitsu.pa"), "--daemonize=no", "--exit-idle-time=-1",
         f"--log-target=file:{work / 'pulse.log'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    peer = PulsePeer(server, [daemon])
    deadline = time.monotonic() + 10
    while not _answers(server):
        if daemon.poll() is not None or time.monotonic() > deadline:
            stop_pulse(peer, work)
            log = (
                (work / "pulse.log").read_text(errors="replace")[-500:]
                if (work / "pulse.log").exists()
                else ""
            )
            raise RuntimeError(f"pulseaudio did not start: {log}")
        time.sleep(0.1)
    # Idle null sinks render in bursts; a silent low-latency stream into each keeps them real-time.
    for sink in ("mic_feed", "kitsu_out"):
        keepalive = ["pacat", "-p", "--latency-msec=20", "-d", sink, "--raw", "--format=s16le", "--rate=48000",
                     "--channels=2", "/dev/zero"]  # fmt: skip
        peer.processes.append(subprocess.Popen(keepalive, env=peer.env()))
    time.sleep(2.0)  # the first 1-2 s after start can be bursty
    return peer, work


def stop_pulse(peer: PulsePeer, work: Path | None) -> None:
    """Stop the processes this module started (by their handles) and remove the work dir."""
    for proc in reversed(peer.processes):
        proc.terminate()
    for proc in reversed(peer.processes):
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)


def existing_server() -> str | None:
    """PULSE_SERVER from the environment when it already hosts the kitsu sinks (virtual_audio.sh is running)."""
    server = os.environ.get("PULSE_SERVER")
    if server and shutil.which("pactl") and _answers(server) and _has_kitsu_sinks(server):
        return server
    return None


def reinit_portaudio() -> None:
    """PortAudio enumerates devices at initialisation: restart it so it sees the current PULSE_SERVER."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT bin."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1.0 / rate)[int(np.argmax(spectrum))])
