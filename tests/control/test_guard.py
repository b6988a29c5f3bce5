"""The gate: token required everywhere, bad input refused with one line, flood limited, CORS only for listed origins.

Every refusal is checked to have left the engine untouched (no command event).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from kitsu_tui.engine.events import Notice

from .conftest import Show, api_settings, close_show, open_show


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
async def test_http_refused_without_the_right_token(show: Show, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/status"), ("POST", "/panic"), ("POST", "/say"), ("GET", "/nowhere")):
        async with show.http.request(method, show.url + path, headers=headers, json={"text": "hi"}) as response:
            assert response.status == 401, path
            assert "token" in (await response.json())["error"]
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert not show.engine.panicked and show.command_events() == []


async def test_query_token_works_and_wrong_query_token_does_not(show: Show) -> None:
    async with show.http.get(f"{show.url}/status?token={show.token}") as response:
        assert response.status == 200
    async with show.http.post(f"{show.url}/panic?token=nope") as response:
        assert response.status == 401
    assert not show.engine.panicked


async def test_websocket_refused_without_the_right_token(show: Show) -> None:
    for url in (f"{show.url}/stream", f"{show.url}/stream?token=wrong&replay=1"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await show.http.ws_connect(url)
        assert refused.value.status == 401
    async with show.http.ws_connect(f"{show.url}/stream?token={show.token}") as ws:
        assert not ws.closed


async def test_bad_input_never_reaches_the_engine(show: Show) -> None:
    cases: list[tuple[str, bytes | None, int, str]] = [
        ("/say", b"{not json", 400, "malformed JSON"),
        ("/say", b"[1, 2]", 400, "JSON object"),
        ("/say", b"\xff\xfe", 400, "malformed JSON"),
        ("/say", b"{}", 400, '"text" is required'),
        ("/say", b'{"text": 5}', 400, '"text" must be a string'),
        ("/say", b'{"text": "   "}', 400, "must not be empty"),
        ("/say", b'{"text": "' + b"a" * 3000 + b'"}', 400, "longer than"),
        ("/chat", b'{"text": "hi", "author": ["x"]}', 400, '"author" must be a string'),
        ("/chat", b'{"text": "hi", "source": "voice"}', 400, '"source" must be one of'),
        ("/mute", b'{"muted": "yes"}', 400, "true or false"),
        ("/mute", b'{"muted": 1}', 400, "true or false"),
        ("/unpanic", b'{"unmute": "no"}', 400, "true or false"),
        ("/toggle/llm", b'{"on": 0}', 400, "true or false"),
        ("/toggle/warp_drive", b"{}", 404, "no module named 'warp_drive'"),
        ("/toggle/speaker", b'{"on": false}', 404, "no module named"),
        ("/persona", b'{"name": "ghost"}', 404, "no persona named"),
        ("/persona", b'{"name": "../../etc/passwd"}', 400, "persona file name"),
        ("/obs/scene", b'{"scene": "BRB"}', 404, "no OBS module"),
        ("/no/such/endpoint", b"{}", 404, "no such endpoint"),
        ("/say", b'{"text": "' + b"a" * 70000 + b'"}', 413, "too large"),
    ]
    for path, body, status, reason in cases:
        async with show.http.post(show.url + path, data=body, headers=show.auth) as response:
            data = await response.json()
            assert (response.status, reason in data["error"]) == (status, True), (path, body[:40] if body else b"", data)
            assert "\n" not in data["error"]
    async with show.http.get(show.url + "/panic", headers=show.auth) as response:
        assert response.status == 405
    await asyncio.sleep(0.05)
    assert show.command_events() == [] and not show.engine.muted and show.engine.module_on("llm")


async def test_flood_gets_429_with_retry_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)
    running = await open_show(api_settings(tmp_path, rate_per_s=0.5, burst=5))
    try:
        statuses = []
        for _ in range(8):
            async with running.http.post(running.url + "/mute", json={"muted": True}, headers=running.auth) as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
                    assert "too many requests" in (await r.json())["error"]
        assert statuses == [200] * 5 + [429] * 3
        assert [e for e in running.events if e.kind == "OperatorAction"].__len__() == 5  # refused ones did nothing
    finally:
        await close_show(running)


async def test_cors_only_for_listed_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)
    running = await open_show(api_settings(tmp_path, cors_origins=["http://127.0.0.1:8766"]))
    try:
        good, bad = {"Origin": "http://127.0.0.1:8766"}, {"Origin": "http://evil.example"}
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        async with running.http.options(running.url + "/say", headers={**good, **preflight}) as response:
            assert response.status == 204 and await response.read() == b""
            assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8766"
            assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
        async with running.http.options(running.url + "/say", headers={**bad, **preflight}) as response:
            assert response.status == 204 and await response.read() == b""
            assert "Access-Control-Allow-Origin" not in response.headers
        async with running.http.get(running.url + "/status", headers={**good, **running.auth}) as response:
            assert response.status == 200 and response.headers["Access-Control-Allow-Origin"] == good["Origin"]
        async with running.http.get(running.url + "/status", headers={**bad, **running.auth}) as response:
            assert "Access-Control-Allow-Origin" not in response.headers
        async with running.http.get(running.url + "/status", headers=good) as response:  # no token: still refused
            assert response.status == 401
        assert running.command_events() == []
    finally:
        await close_show(running)


async def test_token_never_logged(show: Show, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await show.get("/status")
    async with show.http.get(f"{show.url}/status?token={show.token}") as response:
        assert response.status == 200
    async with show.http.get(f"{show.url}/status?token=wrong-guess") as response:
        assert response.status == 401
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/status" in text  # requests are logged, by path only
    assert show.token not in text and "wrong-guess" not in text and "Bearer" not in text


async def test_port_taken_is_one_warning_and_the_show_goes_on(show: Show, tmp_path: Path) -> None:
    from kitsu_tui.control.server import start_control_api

    port = int(show.url.rsplit(":", 1)[1])
    settings = api_settings(tmp_path / "second", port=port)
    notices: list[str] = []
    show.engine.bus.add_listener(lambda e: notices.append(e.message) if isinstance(e, Notice) else None)
    assert await start_control_api(show.engine, settings, lambda: None, lambda: "headless") is None
    assert notices == [f"control API cannot listen on 127.0.0.1:{port}: the port is taken (another show?); "
                       "the show goes on without it"]
    disabled = settings.with_values({"api.enabled": False})
    assert await start_control_api(show.engine, disabled, lambda: None, lambda: "headless") is None
    assert notices[-1] == "control API off ([api] enabled = false)"
