"""`kitsu status/say/panic/unpanic/skip/toggle/scene/stop` against a running show, and with no show at all."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kitsu_tui import cli

from .conftest import ROOT, Show, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_for(tmp_path: Path, port: int) -> Path:
    """A kitsu.toml pointing at the show's data dir (its token) and API port."""
    config = tmp_path / "client.toml"
    config.write_text(f'[paths]\ndata_dir = "{tmp_path / "data"}"\nlog_dir = "{tmp_path / "logs"}"\n'
                      f'[api]\nport = {port}\n')
    return config


async def kitsu(*args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop) while the show keeps running on this one."""
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(cli.app, list(args)))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITSU_CONFIG_FILE", raising=False)
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)


async def test_commands_against_a_running_show(show: Show, tmp_path: Path) -> None:
    config = str(config_for(tmp_path, int(show.url.rsplit(":", 1)[1])))
    result = await kitsu("say", "Hello chat!", "--config", config)
    assert (result.exit_code, result.stdout) == (0, "queued to say\n"), result.output
    await wait_for(lambda: bool(show.engine.records))
    result = await kitsu("status", "--config", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Kitsu: listening · console headless"
    assert any(line.startswith("modules: ") and "llm on" in line for line in lines)
    assert 'last line: "Hello chat!"' in lines
    assert any(line.startswith("latency: first audio ") and "p95" in line for line in lines)
    result = await kitsu("status", "--json", "--config", config)
    assert json.loads(result.stdout)["last_spoken"] == "Hello chat!"

    result = await kitsu("panic", "--config", config)
    assert result.exit_code == 0 and "panic engaged" in result.stdout and show.engine.panicked
    result = await kitsu("status", "--config", config)
    assert "flags: PANIC · muted" in result.stdout
    result = await kitsu("say", "nope", "--config", config)
    assert (result.exit_code, result.stderr) == (1, "kitsu: not said: panic is engaged\n")
    result = await kitsu("unpanic", "--unmute", "--config", config)
    assert (result.exit_code, result.stdout) == (0, "panic cleared; mic on\n")
    assert not show.engine.panicked and not show.engine.muted
    assert (await kitsu("skip", "--config", config)).stdout == "nothing was playing\n"

    result = await kitsu("toggle", "llm", "--off", "--config", config)
    assert (result.exit_code, result.stdout) == (0, "llm: off\n") and not show.engine.module_on("llm")
    result = await kitsu("toggle", "llm", "--config", config)
    assert result.stdout == "llm: on\n" and show.engine.module_on("llm")
    result = await kitsu("toggle", "warp", "--on", "--config", config)
    assert result.exit_code == 1 and result.stderr.startswith("kitsu: no module named 'warp'")
    assert len(result.stderr.splitlines()) == 1
    result = await kitsu("scene", "BRB", "--config", config)
    assert (result.exit_code, result.stderr) == (1, "kitsu: no OBS module (enable [obs] in kitsu.toml)\n")

    result = await kitsu("stop", "--config", config)
    assert (result.exit_code, result.stdout) == (0, "the show is stopping\n")
    await wait_for(lambda: show.stops == ["stop"])


async def test_wrong_token_is_one_line(show: Show, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = str(config_for(tmp_path, int(show.url.rsplit(":", 1)[1])))
    monkeypatch.setenv("KITSU_API_TOKEN", "not-the-token")
    result = await kitsu("panic", "--config", config)
    assert result.exit_code == 1 and result.stderr.startswith("kitsu: missing or wrong API token")
    assert not show.engine.panicked


def test_no_show_running(tmp_path: Path) -> None:
    port = free_port()
    config = str(config_for(tmp_path, port))
    result = CliRunner().invoke(cli.app, ["status", "--config", config])  # no token file either
    assert result.exit_code == 1
    assert result.stderr.startswith(f"kitsu: no show is running at http://127.0.0.1:{port}: no API token")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "api.token").write_text("left-over-token\n")  # an earlier show's token
    for args in (["status"], ["say", "hi"], ["panic"], ["unpanic"], ["skip"], ["toggle", "obs"],
                 ["scene", "BRB"], ["stop"]):
        result = CliRunner().invoke(cli.app, [*args, "--config", config])
        assert (result.exit_code, result.stderr) == (
            1, f"kitsu: no show is running at http://127.0.0.1:{port} (start one with `kitsu run`)\n"), args
        assert result.stdout == ""


def test_headless_show_serves_the_api_until_kitsu_stop(tmp_path: Path) -> None:
    """`kitsu run --headless` with nothing to feed runs the show until `kitsu stop`, then exits 0."""
    port = free_port()
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns("memory.sqlite3*", "*.token"))
    config = config_for(tmp_path, port)
    config.write_text(config.read_text() + "[audio]\nplay_audio = false\n[telemetry]\nenabled = false\n")
    env = {**os.environ, "KITSU_CONFIG_FILE": str(config), "KITSU_LOG_ROOT": str(tmp_path / "logs")}
    env.pop("KITSU_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_kitsu.py"), "run", "--headless"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        runner = CliRunner()
        for _ in range(300):
            result = runner.invoke(cli.app, ["status", "--json", "--config", str(config)])
            if result.exit_code == 0:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        status = json.loads(result.stdout)
        assert status["console"] == "headless" and status["modules"]["llm"]["state"] == "on"
        assert runner.invoke(cli.app, ["say", "Hello from a button.", "--config", str(config)]).exit_code == 0
        for _ in range(100):
            result = runner.invoke(cli.app, ["status", "--json", "--config", str(config)])
            if json.loads(result.stdout)["last_spoken"]:
                break
            time.sleep(0.1)
        assert runner.invoke(cli.app, ["stop", "--config", str(config)]).exit_code == 0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["spoken"] for r in records] == ["Hello from a button."]
    token = tmp_path / "data" / "api.token"
    assert token.exists() and oct(token.stat().st_mode & 0o777) == "0o600"
