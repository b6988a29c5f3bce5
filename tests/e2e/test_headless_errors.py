"""`kitsu run --headless` with broken parts: one clear line naming cause and fix, non-zero exit, no traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import KITSU


def run_with_config(home: tuple[Path, dict[str, str]], extra_toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    cwd, env = home
    config = Path(env["KITSU_CONFIG_FILE"])
    config.write_text(config.read_text() + extra_toml)
    return subprocess.run([KITSU, "run", "--headless", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("kitsu:") and "null sink" not in line]


@pytest.mark.models
def test_missing_llm_model_is_one_line_and_nonzero(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    proc = run_with_config(kitsu_home, '[llm]\nmodel_path = "/nonexistent/model.gguf"\n', "--chat", "hello")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in error_lines(proc.stderr) if "llm" in line]
    assert lines and "/nonexistent/model.gguf" in lines[0], proc.stderr
    # the chat turn is reported as refused, not lost
    assert '"rejected"' in proc.stdout and "llm is error" in proc.stdout


@pytest.mark.models
def test_unreachable_http_llm_is_one_line(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    toml = f'[llm]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\ntimeout_s = 2\nretries = 0\n'
    proc = run_with_config(kitsu_home, toml, "--chat", "hello")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert any(f"127.0.0.1:{port}" in line for line in error_lines(proc.stderr)), proc.stderr


def test_malformed_config_names_file_line_and_key(kitsu_home: tuple[Path, dict[str, str]]) -> None:
    proc = run_with_config(kitsu_home, "[vad]\nthreshold = 7\nbogus_key = 1\n", "--chat", "hi")
    assert proc.returncode == 2
    config = kitsu_home[1]["KITSU_CONFIG_FILE"]
    text = Path(config).read_text().splitlines()
    threshold_line = text.index("threshold = 7") + 1
    assert f"{config}:{threshold_line}: key 'vad.threshold'" in proc.stderr, proc.stderr
    assert "key 'vad.bogus_key': unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
