"""`kitsu doctor`: the preflight on an unconfigured machine, with modules on and nothing behind them, and against peers."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kitsu_tui.commands.doctor import doctor_command
from kitsu_tui.commands.doctor_checks import load_models
from kitsu_tui.commands.doctor_remote import check_obs, check_vts
from kitsu_tui.config.settings import Settings
from tests.integrations.fake_vts import FakeVTS
from tests.integrations.obs_peer import ObsPeer, running_obs


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_doctor(config: Path | None = None, load: bool = False) -> tuple[int, dict[str, Any]]:
    """Exit code and the --json document."""
    out = io.StringIO()
    code = doctor_command(config, as_json=True, load=load, out=out)
    return code, json.loads(out.getvalue())


@pytest.fixture
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without kitsu.toml and no kitsu environment variables."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KITSU_CONFIG_FILE", raising=False)
    for name in ("CHANNEL", "BOT_ID", "CLIENT_ID", "CLIENT_SECRET", "ACCESS_TOKEN", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"KITSU_TWITCH_{name}", raising=False)
    return tmp_path


def test_an_unconfigured_machine_gets_a_verdict_and_a_fix_for_every_problem(bare_machine: Path) -> None:
    """Nothing configured: no row is no-go; each warning carries a fix; every module that is off is skipped."""
    code, report = run_doctor()
    rows = {row["name"]: row for row in report["checks"]}
    assert code == 0 and report["go"] is True and report["verdict"].startswith("GO")
    assert rows["config"]["detail"] == "embedded defaults"
    assert all(row["status"] in ("go", "warn", "skipped") for row in rows.values())
    assert all(row["fix"] for row in rows.values() if row["status"] == "warn")
    for name in ("obs", "vts", "twitch", "vmc"):
        assert rows[name]["status"] == "skipped" and rows[name]["detail"] == "skipped (off)"
    assert rows["api port"]["status"] == "go" and rows["api port"]["detail"] == "127.0.0.1:8765 is free"
    for stage in ("vad", "asr", "llm", "tts"):
        assert rows[f"model {stage}"]["status"] == "go"
        assert rows[f"model {stage}"]["detail"].startswith("files present, not loaded (--no-load)")
    assert {"persona", "microphone", "speakers", "moderation", "log dir", "data dir", "free disk", "memory"} <= set(rows)


def test_the_embedded_models_load() -> None:
    """Without --no-load each model really loads, as `kitsu run` would load it."""
    rows = load_models(Settings(), None)
    assert [(row.name, row.status) for row in rows] == [("model vad", "go"), ("model asr", "go"),
                                                         ("model llm", "go"), ("model tts", "go")]
    assert all(row.detail.startswith("loads in ") for row in rows)


def test_modules_on_with_nothing_behind_them_are_no_go(bare_machine: Path) -> None:
    """OBS and VTS unreachable, no VTS token, no Twitch credentials, broken rules: exit 1, one fix per row."""
    rules = bare_machine / "rules"
    rules.mkdir()
    (rules / "rules.toml").write_text('[[rules]]\nrule = "x"\nfile = "missing.txt"\nkind = "terms"\n')
    config = bare_machine / "kitsu.toml"
    config.write_text(f"""
[obs]
enabled = true
port = {closed_port()}
timeout_s = 1
[vts]
enabled = true
url = "ws://127.0.0.1:{closed_port()}"
token_path = "{bare_machine / 'vts.token'}"
[twitch]
enabled = true
channel = "kitsu"
[moderation]
rules_dir = "{rules}"
""")
    code, report = run_doctor(config)
    rows = {row["name"]: row for row in report["checks"]}
    assert code == 1 and report["go"] is False
    failing = [name for name, row in rows.items() if row["status"] == "no-go"]
    assert failing == ["moderation", "obs", "vts", "twitch"]
    assert report["verdict"] == "NO-GO: moderation, obs, vts, twitch"
    assert all(rows[name]["fix"] for name in failing)
    assert "unreachable" in rows["obs"]["detail"]
    assert rows["vts"]["detail"] == f"no plugin token at {bare_machine / 'vts.token'}"
    assert rows["twitch"]["detail"].startswith("missing: KITSU_TWITCH_BOT_ID, KITSU_TWITCH_CLIENT_ID")
    assert "KITSU_TWITCH_CHANNEL" not in rows["twitch"]["detail"]


def test_a_broken_config_is_one_no_go_row(bare_machine: Path) -> None:
    """A config that does not validate names the key; nothing else is tried."""
    config = bare_machine / "kitsu.toml"
    config.write_text("[obs]\nenabled = true\nport = 99999999\n")
    code, report = run_doctor(config)
    assert code == 1 and [row["name"] for row in report["checks"]] == ["config"]
    assert report["checks"][0]["detail"].startswith(f"{config}:3: key 'obs.port'")


async def test_vts_token_is_tried_against_the_plugin_api(tmp_path: Path) -> None:
    """The stored token is accepted by the VTS API double; a stale one is rejected with the fix."""
    vts = FakeVTS(token="good-token-123")
    port = await vts.start()
    try:
        token = tmp_path / "vts.token"
        settings = Settings().with_values({"vts.enabled": True, "vts.url": f"ws://127.0.0.1:{port}",
                                           "vts.token_path": token})
        token.write_text("good-token-123")
        accepted = await check_vts(settings)
        token.write_text("stale-token-456")
        rejected = await check_vts(settings)
    finally:
        await vts.stop()
    assert (accepted.status, accepted.detail) == ("go", f"token at {tmp_path / 'vts.token'} accepted by ws://127.0.0.1:{port}")
    assert rejected.status == "no-go" and "rejected" in rejected.detail and "Allow again" in rejected.fix


@pytest.fixture(scope="module")
def obs_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObsPeer]:
    """One headless OBS with scenes Main and BRB and an input Mic carrying a filter Censor."""
    from tests.integrations.test_obs import build_show

    with running_obs(Path(tmp_path_factory.mktemp("obs"))) as peer:
        build_show(peer)
        yield peer


@pytest.mark.peers
async def test_obs_login_scene_inputs_and_filter_against_real_obs(obs_peer: ObsPeer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Right password and names: every OBS row is go; a wrong scene, input or password is no-go with its fix."""
    monkeypatch.setenv("KITSU_OBS_PASSWORD", obs_peer.password)
    settings = Settings().with_values({
        "obs.enabled": True, "obs.port": obs_peer.port, "obs.brb_scene": "BRB",
        "obs.panic_mute_inputs": ["Mic"], "obs.panic_filter_source": "Mic", "obs.panic_filter": "Censor",
    })
    good = await check_obs(settings)
    assert [(r.name, r.status) for r in good] == [("obs", "go"), ("obs brb scene", "go"), ("obs panic inputs", "go"),
                                                  ("obs panic filter", "go")]
    settings = settings.with_values({"obs.brb_scene": "Be Right Back", "obs.panic_mute_inputs": ["Mic", "Ghost"],
                                     "obs.panic_filter": "Blur"})
    bad = {r.name: r for r in await check_obs(settings)}
    assert bad["obs brb scene"].status == "no-go" and "BRB" in bad["obs brb scene"].detail
    assert (bad["obs panic inputs"].status, bad["obs panic inputs"].detail) == ("no-go", "missing: Ghost")
    assert bad["obs panic filter"].status == "no-go"
    monkeypatch.setenv("KITSU_OBS_PASSWORD", "not-the-password")
    [refused] = await asyncio.wait_for(check_obs(settings), 30)
    assert refused.status == "no-go" and "refused the login" in refused.detail and refused.fix
