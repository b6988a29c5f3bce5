"""`kitsu doctor`'s checks of the outside world: OBS, VTube Studio, Twitch credentials, VMC and the API port."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from kitsu_tui.commands.doctor_checks import CheckResult, skipped_off
from kitsu_tui.config.settings import Settings, secret_from


async def check_obs(settings: Settings) -> list[CheckResult]:
    """Log in with the password, then look for the BRB scene, the panic inputs and the panic filter."""
    from kitsu_tui.integrations.obs_client import ObsConnection, describe_connect_error

    cfg = settings.obs
    if not cfg.enabled:
        return [skipped_off("obs", "obs")]
    password = secret_from(cfg.password_env, cfg.password)
    conn = ObsConnection(cfg.host, cfg.port, password, cfg.timeout_s)
    try:
        await asyncio.wait_for(conn.connect(lambda _scene: None), cfg.timeout_s + 2)
        version = await conn.call("get_version")
        scenes = {str(s.get("sceneName")) for s in (await conn.call("get_scene_list")).scenes}
        inputs = {str(i.get("inputName")) for i in (await conn.call("get_input_list")).inputs}
        filters: set[str] | None = None
        if cfg.panic_filter_source and cfg.panic_filter:
            try:
                answer = await conn.call("get_source_filter_list", cfg.panic_filter_source)
                filters = {str(f.get("filterName")) for f in answer.filters}
            except Exception:
                filters = set()
    except Exception as exc:
        fix = "start OBS, enable Tools > WebSocket Server Settings, and check [obs] host/port and KITSU_OBS_PASSWORD"
        return [CheckResult("obs", "no-go", describe_connect_error(exc, cfg.host, cfg.port, bool(password)), fix)]
    finally:
        await conn.close()
    rows = [CheckResult("obs", "go", f"logged in at {cfg.host}:{cfg.port} (OBS {version.obs_version}, "
                                     f"obs-websocket {version.obs_web_socket_version})")]
    if cfg.brb_scene in scenes:
        rows.append(CheckResult("obs brb scene", "go", f"scene {cfg.brb_scene!r} exists"))
    else:
        rows.append(CheckResult("obs brb scene", "no-go", f"no scene {cfg.brb_scene!r} (scenes: {', '.join(sorted(scenes))})",
                                "create that scene in OBS or set [obs] brb_scene to one of the scenes listed"))
    missing = [name for name in cfg.panic_mute_inputs if name not in inputs]
    if missing:
        rows.append(CheckResult("obs panic inputs", "no-go", f"missing: {', '.join(missing)}",
                                "fix [obs] panic_mute_inputs to name inputs as OBS shows them"))
    elif cfg.panic_mute_inputs:
        rows.append(CheckResult("obs panic inputs", "go", f"{', '.join(cfg.panic_mute_inputs)} exist"))
    else:
        rows.append(CheckResult("obs panic inputs", "warn", "none configured: panic leaves every input unmuted",
                                "list the mic and game audio in [obs] panic_mute_inputs"))
    if filters is not None:
        if cfg.panic_filter in filters:
            rows.append(CheckResult("obs panic filter", "go", f"{cfg.panic_filter!r} on {cfg.panic_filter_source!r}"))
        else:
            rows.append(CheckResult("obs panic filter", "no-go",
                                    f"no filter {cfg.panic_filter!r} on {cfg.panic_filter_source!r}",
                                    "add the filter in OBS or fix [obs] panic_filter / panic_filter_source"))
    return rows


async def check_vts(settings: Settings) -> CheckResult:
    """A stored plugin token that VTube Studio accepts."""
    from websockets.asyncio.client import connect

    from kitsu_tui.integrations.vts_protocol import TokenStore, envelope

    cfg = settings.vts
    if not cfg.enabled:
        return skipped_off("vts", "vts")
    path = cfg.resolved_token_path(settings.paths.data_dir)
    token = TokenStore(path).load()
    if token is None:
        return CheckResult("vts", "no-go", f"no plugin token at {path}",
                           "start `kitsu run` with VTube Studio open and click Allow when it asks")
    request = envelope("AuthenticationRequest", {"pluginName": cfg.plugin_name, "pluginDeveloper": cfg.plugin_developer,
                                                 "authenticationToken": token}, "kitsu-doctor")
    try:
        async with connect(cfg.url, open_timeout=3, max_size=2**20) as ws:
            await ws.send(request)
            answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    except (OSError, TimeoutError, ValueError) as exc:
        return CheckResult("vts", "no-go", f"nothing answers at {cfg.url} ({type(exc).__name__})",
                           "open VTube Studio and switch on Settings > Start API (or fix [vts] url)")
    except Exception as exc:
        return CheckResult("vts", "no-go", f"{cfg.url}: {type(exc).__name__}: {exc}", "check [vts] url")
    data = answer.get("data") or {}
    if answer.get("messageType") == "AuthenticationResponse" and data.get("authenticated"):
        return CheckResult("vts", "go", f"token at {path} accepted by {cfg.url}")
    reason = data.get("reason") or data.get("message") or answer.get("messageType")
    return CheckResult("vts", "no-go", f"VTube Studio rejected the token: {reason}",
                       f"delete {path}, run kitsu with VTS on and click Allow again")


def check_twitch(settings: Settings) -> CheckResult:
    """Every Twitch credential is present (environment or config); they are not tried online."""
    from kitsu_tui.integrations.twitch import TwitchModule

    if not settings.twitch.enabled:
        return skipped_off("twitch", "twitch")
    credentials = TwitchModule(settings.twitch).credentials()
    missing = [name for name, value in credentials.items() if not value]
    if missing:
        return CheckResult("twitch", "no-go", f"missing: {', '.join(missing)}",
                           "export them (or set [twitch] channel/bot_id/client_id, secrets in the environment)")
    return CheckResult("twitch", "go", f"credentials present for #{credentials['KITSU_TWITCH_CHANNEL']} "
                                       "(not tried online)")


def check_vmc(settings: Settings) -> CheckResult:
    """The VMC receiver's host resolves (OSC over UDP has no answer to wait for)."""
    cfg = settings.vmc
    if not cfg.enabled:
        return skipped_off("vmc", "vmc")
    try:
        socket.getaddrinfo(cfg.host, cfg.port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        return CheckResult("vmc", "no-go", f"{cfg.host} does not resolve: {exc}", "fix [vmc] host")
    return CheckResult("vmc", "go", f"sends OSC to {cfg.host}:{cfg.port} (UDP: no answer to check)")


def check_api_port(settings: Settings) -> CheckResult:
    """The control API's port is free (skipped when [api] is off)."""
    api = settings.api
    if not api.enabled:
        return skipped_off("api port", "api")
    host, port = api.host, api.port
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return CheckResult("api port", "no-go", f"{host}:{port} is taken: {exc.strerror or exc}",
                               "stop the other program (another kitsu?) or set [api] port")
    return CheckResult("api port", "go", f"{host}:{port} is free")


async def remote_checks(settings: Settings) -> list[CheckResult]:
    """OBS, VTS, Twitch, VMC and the API port, the network ones side by side."""
    obs, vts = await asyncio.gather(check_obs(settings), check_vts(settings))
    return [*obs, vts, check_twitch(settings), check_vmc(settings), check_api_port(settings)]
