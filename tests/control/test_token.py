"""The API token: created once with mode 0600 and reused; the environment variable wins; clients read it back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kitsu_tui.config.settings import ApiSettings
from kitsu_tui.control.token import load_or_create_token, read_token


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)


def test_created_0600_then_reused(tmp_path: Path) -> None:
    api = ApiSettings()
    data = tmp_path / "data"  # does not exist yet: created
    assert read_token(api, data) is None
    token = load_or_create_token(api, data)
    path = data / "api.token"
    assert len(token) >= 40 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in data.iterdir()] == ["api.token"]  # no temp file left behind
    assert load_or_create_token(api, data) == token
    assert read_token(api, data) == token


def test_env_var_wins_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITSU_API_TOKEN", "from-env")
    assert load_or_create_token(ApiSettings(), tmp_path) == "from-env"
    assert read_token(ApiSettings(), tmp_path) == "from-env"
    assert not (tmp_path / "api.token").exists()


def test_configured_file_and_env_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = ApiSettings(token_file=tmp_path / "secret" / "t.txt", token_env="MY_SHOW_TOKEN")
    token = load_or_create_token(api, tmp_path)
    assert (tmp_path / "secret" / "t.txt").read_text().strip() == token
    monkeypatch.setenv("MY_SHOW_TOKEN", "other")
    assert read_token(api, tmp_path) == "other"


def test_loose_permissions_are_narrowed_and_blank_file_replaced(tmp_path: Path) -> None:
    path = tmp_path / "api.token"
    path.write_text("kept\n")
    path.chmod(0o644)
    assert load_or_create_token(ApiSettings(), tmp_path) == "kept"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("  \n")
    assert read_token(ApiSettings(), tmp_path) is None
    fresh = load_or_create_token(ApiSettings(), tmp_path)
    assert fresh and fresh != "kept" and path.read_text().strip() == fresh
