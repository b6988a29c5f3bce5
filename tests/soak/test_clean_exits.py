"""Clean exits: SIGINT or SIGTERM mid-synthesis ends `kitsu soak` and `kitsu run --headless` within 5 s.

The CLI is the real one (tests/fake_kitsu.py swaps the models for fakes): a synthesis blocks its thread for
30 s, as a native call that cannot be stopped would, and the signal arrives once it has started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ..integrations.obs_peer import free_port

ROOT = Path(__file__).resolve().parents[2]
FAKE_KITSU = ROOT / "tests" / "fake_kitsu.py"
EXIT_BUDGET_S = 5.0


class Run:
    """One kitsu process on fake models whose speech synthesis blocks; signalled once it synthesizes."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.mark = tmp_path / "synthesizing"
        self.port = free_port()
        (tmp_path / "none.toml").write_text("")
        env = {**os.environ, "KITSU_CONFIG_FILE": str(tmp_path / "none.toml"), "KITSU_LOG_ROOT": str(tmp_path / "logs"),
               "KITSU_MEMORY__PATH": str(tmp_path / "memory.sqlite3"), "KITSU_API__PORT": str(self.port),
               "KITSU_API_TOKEN": "exit-test", "KITSU_TELEMETRY__ENABLED": "false", "KITSU_FAKE_TTS_S": "30",
               "KITSU_FAKE_WARM_S": "0.5", "KITSU_FAKE_MARK": str(self.mark)}
        env.pop("PULSE_SERVER", None)
        self.proc = subprocess.Popen([sys.executable, str(FAKE_KITSU), *args], env=env, cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def chat(self, text: str, limit_s: float = 20.0) -> None:
        """POST a chat line to the control API once it answers."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/chat", method="POST",
                                         data=json.dumps({"text": text, "user": "ann"}).encode(),
                                         headers={"Authorization": "Bearer exit-test",
                                                  "Content-Type": "application/json"})
        deadline = time.monotonic() + limit_s
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def signal_mid_synthesis(self, sig: signal.Signals, limit_s: float = 20.0) -> tuple[int, float, str, str]:
        """Wait for a synthesis to start, send `sig`; (exit code, seconds to exit, stdout, stderr)."""
        deadline = time.monotonic() + limit_s
        while not (self.mark.exists() and self.mark.read_text()):
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "no synthesis started"
            time.sleep(0.05)
        time.sleep(0.3)
        sent = time.monotonic()
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=15)
        finally:
            self.proc.kill()
        return self.proc.returncode, time.monotonic() - sent, out, err


def _clean(err: str) -> None:
    assert "Traceback" not in err and "ERROR" not in err, err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_soak_signalled_mid_synthesis_exits_fast_with_its_summary(tmp_path: Path, sig: signal.Signals,
                                                                   code: int) -> None:
    summary_path = tmp_path / "summary.json"
    run = Run(tmp_path, "soak", "--max-turns", "20", "--output", str(summary_path))
    returncode, took, _, err = run.signal_mid_synthesis(sig)
    assert returncode == code, err
    assert took < EXIT_BUDGET_S, f"took {took:.1f}s"
    _clean(err)
    summary = json.loads(summary_path.read_text())
    assert summary["complete"] is False and summary["stopped_by"] == f"interrupted ({sig.name})"
    assert summary["turns_attempted"] == 0 and "aggregates" in summary


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_headless_feeding_run_signalled_mid_synthesis(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    run = Run(tmp_path, "run", "--headless", "--no-audio", "--chat", "hello", "--chat", "again")
    returncode, took, out, err = run.signal_mid_synthesis(sig)
    assert returncode == code, err
    assert took < EXIT_BUDGET_S, f"took {took:.1f}s"
    _clean(err)
    assert json.loads(out.splitlines()[0])["interrupted"] is True
    _show_log_closed(tmp_path)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_headless_serving_show_signalled_mid_synthesis(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    run = Run(tmp_path, "run", "--headless", "--no-audio")
    run.chat("hello kitsu")
    returncode, took, _, err = run.signal_mid_synthesis(sig)
    assert returncode == code, err
    assert took < EXIT_BUDGET_S, f"took {took:.1f}s"
    _clean(err)
    _show_log_closed(tmp_path)


def _show_log_closed(tmp_path: Path) -> None:
    """The show log ends with its footer (closed, not cut off); the memory DB was closed (no WAL left)."""
    wal = tmp_path / "memory.sqlite3-wal"
    assert (tmp_path / "memory.sqlite3").exists() and (not wal.exists() or wal.stat().st_size == 0)
    logs = list((tmp_path / "logs" / "shows").glob("show-*.jsonl"))
    assert len(logs) == 1
    assert json.loads(logs[0].read_text().splitlines()[-1])["kind"] == "show_ended"
