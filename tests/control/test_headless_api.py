"""`kitsu run --headless` and the control API: a taken port is one line when serving, and harmless with --chat."""

from __future__ import annotations

import io
import json
import shutil
import socket
from pathlib import Path

import pytest

import kitsu_tui.backends.factory as factory
from kitsu_tui.config.settings import Settings
from kitsu_tui.headless import run_headless
from tests.fake_kitsu import fake_backends

from .conftest import ROOT


def lines(err: io.StringIO) -> list[str]:
    """stderr lines other than the null-sink notice."""
    return [line for line in err.getvalue().splitlines() if "null sink" not in line]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Fake models, a copy of data/ (moderation rules), logs and the token under tmp_path, no audio device."""
    monkeypatch.setattr(factory, "build_backends", fake_backends)
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns("memory.sqlite3*", "*.token"))
    return Settings().with_values({"paths.data_dir": tmp_path / "data", "paths.log_dir": tmp_path / "logs",
                                   "paths.personas_dir": ROOT / "personas", "paths.prompts_dir": ROOT / "prompts",
                                   "audio.play_audio": False, "telemetry.enabled": False})


async def test_taken_port_when_serving_is_one_line_and_exit_1(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out, err = io.StringIO(), io.StringIO()
        code = await run_headless(settings.with_values({"api.port": port}), [], [], out=out, err=err)
    assert code == 1 and out.getvalue() == ""
    shown = [line for line in lines(err) if "microphone unavailable" not in line]  # no sound card here
    assert shown == [f"kitsu: control API cannot listen on 127.0.0.1:{port}: the port is taken (another show?)"]


async def test_chat_run_ignores_a_taken_port_and_disabled_api_serves_nothing(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out, err = io.StringIO(), io.StringIO()
        code = await run_headless(settings.with_values({"api.port": taken.getsockname()[1]}), [], ["hello kitsu"],
                                  out=out, err=err)
    assert code == 0 and lines(err) == []
    assert [json.loads(line)["source"] for line in out.getvalue().splitlines()] == ["chat"]
    (settings.paths.data_dir / "api.token").unlink()  # made by the run above, before its port was found taken
    out, err = io.StringIO(), io.StringIO()
    assert await run_headless(settings.with_values({"api.enabled": False}), [], [], out=out, err=err) == 0
    assert out.getvalue() == "" and [line for line in lines(err) if "microphone unavailable" not in line] == []
    assert not (settings.paths.data_dir / "api.token").exists()
