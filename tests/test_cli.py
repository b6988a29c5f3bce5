"""The command line's settings loading: flags on a copy, env overrides, and one `kitsu:` line per config problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kitsu_tui import cli
from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config file or overrides from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KITSU_CONFIG_FILE", raising=False)
    monkeypatch.delenv("KITSU_PERSONA", raising=False)


def test_flags_apply_on_top_of_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--persona/--record/--no-audio beat KITSU_* overrides, which beat the file."""
    config = tmp_path / "k.toml"
    config.write_text('persona = "kitsu"\n[llm]\nn_threads = 3\n', encoding="utf-8")
    monkeypatch.setenv("KITSU_PERSONA", "calm")
    monkeypatch.setenv("KITSU_LLM__N_CTX", "4096")
    settings = cli._load_settings(config, None)
    assert isinstance(settings, Settings)
    assert (settings.persona, settings.llm.n_threads, settings.llm.n_ctx) == ("calm", 3, 4096)
    flagged = cli._load_settings(config, "other", record=tmp_path / "out", no_audio=True)
    assert flagged.persona == "other" and flagged.audio.record_dir == tmp_path / "out"
    assert flagged.audio.play_audio is False


def test_config_error_is_one_line_each_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A bad file value and a bad override each print one `kitsu:` line; the exit code is 2."""
    config = tmp_path / "k.toml"
    config.write_text("[llm]\nn_threads = 0\n", encoding="utf-8")
    monkeypatch.setenv("KITSU_VAD__THRESHOLD", "loud")
    with pytest.raises(typer.Exit) as info:
        cli._load_settings(config, None)
    assert info.value.exit_code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("kitsu: ") for line in lines)
    assert any(line.startswith(f"kitsu: {config}:2: key 'llm.n_threads'") for line in lines)
    assert any(line.startswith("kitsu: KITSU_VAD__THRESHOLD: key 'vad.threshold'") for line in lines)


def test_run_maps_config_errors_and_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    """_run: a ConfigError raised by the command prints its lines and returns 2; Ctrl-C returns 130."""
    async def broken() -> int:
        raise ConfigError("x.toml", ["x.toml:1: first", "x.toml:2: second"])

    async def interrupted() -> int:
        raise KeyboardInterrupt

    assert cli._run(broken()) == 2
    assert capsys.readouterr().err.splitlines() == ["kitsu: x.toml:1: first", "kitsu: x.toml:2: second"]
    assert cli._run(interrupted()) == 130


def test_report_command_exits_2_on_a_bad_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through typer: the override's name is in the message."""
    monkeypatch.setenv("KITSU_PATHS__LOG_DIRR", "/tmp")
    result = CliRunner().invoke(cli.app, ["report", "--latest"])
    assert result.exit_code == 2
    assert "KITSU_PATHS__LOG_DIRR: key 'paths.log_dirr': unknown key" in result.output
