"""The show outlives its terminal: `kitsu run` in a real pseudo-terminal (tmux), the terminal killed, the show
still answering chat through the control API, `kitsu attach` showing it, and `kitsu stop` ending it.

The CLI is the real one (tests/fake_kitsu.py only swaps the four models for fakes): real engine, moderator,
memory DB, control API, show lock and Textual console.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..integrations.obs_peer import free_port
from .control_api import api_status, call_api

ROOT = Path(__file__).resolve().parents[2]
FAKE_KITSU = ROOT / "tests" / "fake_kitsu.py"
REPLY = "The fox is still here and still talking."

pytestmark = pytest.mark.peers


class Show:
    """One test show's environment: API port, token, logs and memory in a temporary folder."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_urlsafe(16)
        self.logs = tmp_path / "logs"
        self.env = {**os.environ, "KITSU_API__PORT": str(self.port), "KITSU_API_TOKEN": self.token,
                    "KITSU_LOG_ROOT": str(self.logs), "KITSU_MEMORY__PATH": str(tmp_path / "memory.sqlite3"),
                    "KITSU_CONFIG_FILE": str(tmp_path / "none.toml"), "KITSU_FAKE_REPLY": REPLY,
                    "TERM": "xterm-256color"}
        self.sessions: list[str] = []

    def kitsu(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a kitsu command (fake models) to completion."""
        return subprocess.run([sys.executable, str(FAKE_KITSU), *args], env=self.env, cwd=ROOT, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def in_tmux(self, name: str, *args: str) -> None:
        """Start a kitsu command in a new detached tmux session (a real pseudo-terminal)."""
        command = " ".join([sys.executable, str(FAKE_KITSU), *args])
        env_args = [f"{key}={value}" for key, value in self.env.items() if key.startswith("KITSU_") or key == "TERM"]
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", "env", *env_args,
                        "bash", "-c", f"cd {ROOT} && {command}; sleep 30"], check=True, env=self.env)
        self.sessions.append(name)

    def screen(self, name: str) -> str:
        """What the tmux session shows now."""
        result = subprocess.run(["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True,
                                check=False)
        return result.stdout

    def api(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the control API (GET without a body, POST with one)."""
        return call_api(self.port, self.token, path, body)

    def status(self) -> dict[str, Any] | None:
        """The show's status, or None while no API answers."""
        return api_status(self.port, self.token)

    def show_pid(self) -> int:
        """The show's process id, from the show lock."""
        holder = json.loads((self.logs / "kitsu-show.lock").read_text())
        return int(holder["pid"])

    def close(self) -> None:
        """Kill what is left."""
        for name in self.sessions:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)


def wait_until(check: Callable[[], Any], what: str, limit_s: float = 60) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def show(tmp_path: Path) -> Iterator[Show]:
    """A show environment; tmux sessions are killed afterwards."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is missing (scripts/dev.sh test installs it)")
        pytest.skip("tmux is not installed")
    (tmp_path / "none.toml").write_text("")
    environment = Show(tmp_path)
    yield environment
    environment.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_show_goes_on_after_the_terminal_dies_and_attach_shows_it(show: Show) -> None:
    """Kill the terminal running `kitsu run`: the show still answers chat (and says the console is detached);
    `kitsu attach` shows the transcript including that line; a second `kitsu run` is refused; `kitsu stop` ends it."""
    show.in_tmux("kitsu-show", "run", "--no-audio")
    wait_until(lambda: (s := show.status()) and s["console"] == "in-process", "the show's API")
    wait_until(lambda: (s := show.status()) and s["modules"].get("llm", {}).get("state") == "on", "the LLM")
    pid = show.show_pid()

    second = show.kitsu("run", "--no-audio")
    assert second.returncode == 1 and "kitsu attach" in second.stderr, second.stderr

    subprocess.run(["tmux", "kill-session", "-t", "kitsu-show"], check=True)
    wait_until(lambda: (s := show.status()) and s["console"] == "detached", "the console to detach", 20)
    assert _alive(pid)

    answer = show.api("/chat", {"text": "are you still there?", "author": "viewer"})
    assert answer["accepted"] is True
    wait_until(lambda: (s := show.status()) and s["last_spoken"] == REPLY, "the reply to be spoken", 30)

    show.in_tmux("kitsu-attach", "attach")
    wait_until(lambda: "are you still there?" in show.screen("kitsu-attach"),
               "the attached console to show the line", 30)
    assert "fox is still here" in show.screen("kitsu-attach")

    stop = show.kitsu("stop")
    assert stop.returncode == 0, stop.stderr
    wait_until(lambda: not _alive(pid), "the show to end", 20)
    assert show.status() is None
