"""The console ends cleanly under load: `kitsu run` (the Textual console, in a real pseudo-terminal under tmux)
stopped while a turn is mid-synthesis: by SIGTERM, by SIGINT, or by the streamer typing Ctrl-C into it.

The CLI is the real one (tests/fake_kitsu.py swaps the four models for fakes): real engine, memory DB, show
log, show lock, control API and console. The synthesis blocks its thread for 30 s, as a native call that
cannot be stopped would; the stop comes once it has started. Each case must end the process within 5 s, close
the show log with `show_ended`, leave a sound memory DB, free the show lock and leave no process behind.

Each test runs its own tmux server (`tmux -L`), so it touches no other tmux session. The pane runs a shell
that starts kitsu and notes its exit status; `remain-on-exit` keeps the pane's screen after both are gone.
kitsu's pid comes from the show lock (checked to be the shell's child); "nothing left behind" means no
process but that shell in kitsu's process group or session once kitsu is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kitsu_tui.showlock import ShowLock

from ..integrations.obs_peer import free_port
from .control_api import api_status, call_api

ROOT = Path(__file__).resolve().parents[2]
FAKE_KITSU = ROOT / "tests" / "fake_kitsu.py"
REPLY = "The fox keeps talking while the stream ends."
EXIT_BUDGET_S = 5.0

pytestmark = pytest.mark.peers


class Console:
    """One `kitsu run` console in its own tmux server, on fake models whose synthesis blocks for 30 s."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.port = free_port()
        self.token = secrets.token_urlsafe(16)
        self.logs = tmp_path / "logs"
        self.memory = tmp_path / "memory.sqlite3"
        self.mark = tmp_path / "synthesizing"
        self.socket = f"kitsu-stop-{secrets.token_hex(4)}"
        self.session = "console"
        self.exit_file = tmp_path / "exit-status"
        self.pid: int | None = None
        self.shell = 0
        """The pane's shell (kitsu's parent): it notes kitsu's exit status."""
        self.group = (0, 0)
        """kitsu's process group and session (the shell's)."""
        (tmp_path / "none.toml").write_text("")
        self.env = {**os.environ, "KITSU_API__PORT": str(self.port), "KITSU_API_TOKEN": self.token,
                    "KITSU_LOG_ROOT": str(self.logs), "KITSU_MEMORY__PATH": str(self.memory),
                    "KITSU_CONFIG_FILE": str(tmp_path / "none.toml"), "KITSU_FAKE_REPLY": REPLY,
                    "KITSU_FAKE_TTS_S": "30", "KITSU_FAKE_WARM_S": "0.5", "KITSU_FAKE_MARK": str(self.mark),
                    "TERM": "xterm-256color"}
        self.env.pop("PULSE_SERVER", None)
        self.env.pop("TMUX", None)

    def tmux(self, *args: str) -> str:
        """Run a tmux command against this test's own server; its stdout."""
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env,
                                check=False, timeout=10)
        return result.stdout

    def start(self) -> None:
        """`kitsu run --no-audio` under a shell that notes its exit status (the shell is the pane's process)."""
        env_args = [f"{key}={value}" for key, value in self.env.items() if key.startswith("KITSU_") or key == "TERM"]
        script = f'"$0" "$@"; echo $? > {self.exit_file}'
        subprocess.run(["tmux", "-L", self.socket, "-f", os.devnull, "new-session", "-d", "-s", self.session,
                        "-x", "120", "-y", "40", "-c", str(ROOT), "env", *env_args, "sh", "-c", script,
                        sys.executable, str(FAKE_KITSU), "run", "--no-audio",
                        ";", "set-option", "-w", "-t", self.session, "remain-on-exit", "on"],
                       check=True, env=self.env, timeout=10)

    def pane(self, field: str) -> str:
        """One tmux format field of the pane (pane_pid, pane_dead, pane_dead_status)."""
        return self.tmux("display-message", "-p", "-t", self.session, f"#{{{field}}}").strip()

    def screen(self) -> str:
        """What the console shows now."""
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        """Type into the console."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def api(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the control API (GET without a body, POST with one)."""
        return call_api(self.port, self.token, path, body)

    def status(self) -> dict[str, Any] | None:
        """The show's status, or None while no API answers."""
        return api_status(self.port, self.token)

    def mid_synthesis(self) -> int:
        """Wait for the show, send a chat line, wait until its reply is being synthesized; kitsu's pid."""
        wait_until(lambda: (s := self.status()) and s["console"] == "in-process", "the show's API", 90)
        wait_until(lambda: (s := self.status()) and s["modules"].get("llm", {}).get("state") == "on", "the LLM")
        self.pid = pid = int(json.loads((self.logs / "kitsu-show.lock").read_text())["pid"])
        self.shell = int(self.pane("pane_pid"))
        fields = _stat(pid)
        assert fields is not None and int(fields[1]) == self.shell, (pid, self.shell)  # the pane's kitsu, no other
        self.group = int(fields[2]), int(fields[3])
        assert self.api("/chat", {"text": "one last question before you go?", "author": "viewer"})["accepted"]
        wait_until(lambda: self.mark.exists() and self.mark.read_text(), "a synthesis to start", 30)
        time.sleep(0.3)
        assert not _gone(pid) and self.pane("pane_dead") == "0"
        return pid

    def wait_gone(self, pid: int, since: float, limit_s: float = 20.0) -> float:
        """Seconds from `since` until kitsu is gone; fails after `limit_s`."""
        wait_until(lambda: _gone(pid), "kitsu to end", limit_s, 0.02)
        return time.monotonic() - since

    def exit_code(self) -> int:
        """kitsu's exit status, as its shell noted it."""
        return int(wait_until(lambda: self.exit_file.exists() and self.exit_file.read_text().strip(),
                              "the exit status", 10))

    def close(self) -> None:
        """Kill what is left: kitsu (killing the terminal alone would only detach the show) and the tmux server."""
        if self.pid is not None and not _gone(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False, env=self.env)


def wait_until(check: Callable[[], Any], what: str, limit_s: float = 60, every_s: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None once the process is reaped."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def _gone(pid: int) -> bool:
    """The process has ended: reaped, or a zombie (no thread of it runs any more)."""
    fields = _stat(pid)
    return fields is None or fields[0] in ("Z", "X")


def _left_behind(console: Console) -> list[str]:
    """Processes still in kitsu's process group or session, other than the pane's shell."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,sid=,stat=,args="], capture_output=True, text=True,
                         check=True).stdout
    left = []
    for line in out.splitlines():
        pid, pgid, sid = (int(field) for field in line.split(None, 3)[:3])
        if pid != console.shell and (pgid == console.group[0] or sid == console.group[1]):
            left.append(line.strip())
    return left


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A console show environment; its tmux server is killed afterwards."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing (scripts/dev.sh test installs it)")
        pytest.skip("tmux is not installed")
    environment = Console(tmp_path)
    try:
        yield environment
    finally:
        environment.close()


def _ended_cleanly(console: Console, took: float) -> None:
    """Within the budget; the show log closed; the memory DB sound; the lock free; nothing left behind."""
    screen = console.screen()
    assert took < EXIT_BUDGET_S, f"took {took:.1f}s\n{screen}"
    assert _left_behind(console) == []
    native = "".join(path.read_text(errors="replace") for path in console.logs.glob("native-*.log"))
    assert "took too long" not in native and "Traceback" not in native, native
    assert "Traceback" not in screen, screen

    logs = list((console.logs / "shows").glob("show-*.jsonl"))
    assert len(logs) == 1, logs
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert records[-1]["kind"] == "show_ended", records[-3:]

    with contextlib.closing(sqlite3.connect(console.memory)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    wal = console.memory.with_name(console.memory.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    lock = ShowLock(console.logs)
    lock.acquire()  # raises ShowRunning while anything still holds the show lock
    lock.release()
    status = subprocess.run([sys.executable, str(FAKE_KITSU), "status"], env=console.env, cwd=ROOT, text=True,
                            capture_output=True, timeout=30, check=False)
    assert "already running" not in status.stdout + status.stderr
    assert console.status() is None


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_mid_synthesis_ends_the_console_show(console: Console, sig: signal.Signals, code: int) -> None:
    """SIGTERM (a service manager, `kill`) or SIGINT while a reply is being synthesized: the show ends in 5 s."""
    console.start()
    pid = console.mid_synthesis()
    sent = time.monotonic()
    os.kill(pid, sig)
    took = console.wait_gone(pid, sent)
    returncode = console.exit_code()
    print(f"{sig.name} -> gone in {took:.2f}s, exit code {returncode}")
    _ended_cleanly(console, took)
    assert returncode == code


def test_ctrl_c_typed_mid_synthesis_asks_then_quits(console: Console) -> None:
    """The streamer types Ctrl-C into the console while kitsu speaks. In the console Ctrl-C is a key, not
    SIGINT (Textual turns ISIG off), bound to quit: kitsu is speaking, so it asks first, and the streamer
    confirms with `y`: the show ends within 5 s of the confirmation."""
    console.start()
    pid = console.mid_synthesis()
    typed = time.monotonic()
    console.keys("C-c")
    hint = wait_until(lambda: _gone(pid) or "to quit the app" in console.screen() or "Quit anyway?" in console.screen(),
                      "the console to answer Ctrl-C", 10, 0.05)
    answered = time.monotonic() - typed
    screen = console.screen()
    assert hint is True and not _gone(pid), screen
    assert "Quit anyway?" in screen, screen  # the quit itself, not a hint pointing to another key
    confirmed = time.monotonic()
    console.keys("y")
    took = console.wait_gone(pid, confirmed)
    returncode = console.exit_code()
    print(f"Ctrl-C -> hint in {answered:.2f}s; confirmed quit -> gone in {took:.2f}s, exit code {returncode}")
    _ended_cleanly(console, took)
    assert returncode == 0
