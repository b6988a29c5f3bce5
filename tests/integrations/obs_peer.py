"""Real OBS Studio started headless under Xvfb with obs-websocket enabled (the suite's own copy of the peer script)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GLOBAL_INI = """[General]
FirstRun=true
EnableAutoUpdates=false
ConfirmOnExit=false

[OBSWebSocket]
FirstLoad=false
ServerEnabled=true
ServerPort={port}
AlertsEnabled=false
AuthRequired=true
ServerPassword={password}
"""

INSTALL_HINT = "apt-get install -y --no-install-recommends obs-studio xvfb libgl1-mesa-dri xauth"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_obs() -> None:
    """Skip when OBS/Xvfb are missing on a dev machine; under CI=true their absence is a failure."""
    missing = [tool for tool in ("obs", "Xvfb") if shutil.which(tool) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed ({INSTALL_HINT})"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"real-OBS tests must run in CI: {message}")
    pytest.skip(message)


class ObsPeer:
    """Xvfb plus one OBS process that a test can kill and start again on the same port and profile."""

    def __init__(self, workdir: Path, password: str = "kitsu-test-pw") -> None:
        self.workdir = workdir
        self.password = password
        self.port = free_port()
        self.home = workdir / "home"
        (self.home / ".config" / "obs-studio").mkdir(parents=True, exist_ok=True)
        ini = GLOBAL_INI.format(port=self.port, password=password)
        (self.home / ".config" / "obs-studio" / "global.ini").write_text(ini)
        self.display = ""
        self.xvfb: subprocess.Popen[bytes] | None = None
        self.obs: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start_display(self) -> None:
        """Start Xvfb on a free display number (it reports the number through a pipe)."""
        read_fd, write_fd = os.pipe()
        log = open(self.workdir / "xvfb.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24",
                                      "-nolisten", "tcp"], pass_fds=(write_fd,), stdout=log, stderr=log)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            self.display = ":" + pipe.readline().strip()

    def start_obs(self, wait_s: float = 40.0) -> None:
        """Start OBS and wait until its websocket port accepts connections."""
        env = {**os.environ, "HOME": str(self.home), "DISPLAY": self.display, "LIBGL_ALWAYS_SOFTWARE": "1"}
        log = open(self.workdir / f"obs-{self.starts}.log", "wb")  # noqa: SIM115
        self.obs = subprocess.Popen(["obs", "--multi", "--minimize-to-tray", "--disable-missing-files-check"],
                                    env=env, stdout=log, stderr=log, start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.obs.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        tail = (self.workdir / f"obs-{self.starts - 1}.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"obs-websocket did not come up on {self.port}; obs log tail:\n{tail}")

    def kill_obs(self) -> None:
        """Kill OBS hard (SIGKILL), as a crash would."""
        if self.obs is not None and self.obs.poll() is None:
            self.obs.send_signal(signal.SIGKILL)
            self.obs.wait(timeout=10)

    def stop(self) -> None:
        """Stop OBS (TERM, then KILL) and Xvfb, by their PIDs."""
        for proc in (self.obs, self.xvfb):
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=6)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextlib.contextmanager
def running_obs(folder: Path) -> Iterator[ObsPeer]:
    """Xvfb and OBS started in `folder` (OBS missing: skipped, or failed under CI=true); both stopped after."""
    require_obs()
    peer = ObsPeer(folder)
    peer.start_display()
    try:
        peer.start_obs()
        yield peer
    finally:
        peer.stop()
