"""`kitsu web`'s token guard in front of textual-serve, over real HTTP (aiohttp's test server, no browser),
and the life of one tab's console process (a shell stand-in, not a real console).
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from textual_serve.download_manager import DownloadManager

import kitsu_tui.web
from kitsu_tui.web import (
    COOKIE_PREFIX,
    ConsoleService,
    WebConsoleServer,
    browser_url,
    exposure_warning,
    serve_web,
    served_command,
    session_value,
)

TOKEN = "test-token-0123456789"
PORT = 18766

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """A client of the guarded textual-serve app (the served command is never run here)."""
    server = WebConsoleServer("true", "127.0.0.1", PORT, TOKEN)
    async with TestClient(TestServer(await server.make_app())) as test_client:
        yield test_client


async def test_everything_is_401_without_the_token(client: Client) -> None:
    for path in ("/", "/ws", "/static/js/textual.js", "/download/x", "/?token=wrong"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 401, path
        body = await response.text()
        assert "needs its token" in body and TOKEN not in body
    response = await client.get("/", headers={"Authorization": "Bearer wrong"})
    assert response.status == 401


async def test_the_token_in_the_url_sets_a_strict_cookie_and_leaves_the_url(client: Client) -> None:
    response = await client.get(f"/?token={TOKEN}&fontsize=14", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/?fontsize=14"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_PREFIX}{PORT}={session_value(TOKEN)}")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie

    page = await client.get("/?fontsize=14")  # the client's cookie jar now holds the cookie
    assert page.status == 200
    html = await page.text()
    host = page.url.host
    assert f'data-session-websocket-url="ws://{host}:{page.url.port}/ws"' in html
    assert 'href="/static/css/xterm.css"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert (await client.get("/static/js/textual.js")).status == 200


async def test_a_bearer_header_works_without_a_cookie(client: Client) -> None:
    response = await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert "textual-terminal" in await response.text()


async def test_the_websocket_refuses_another_origin(client: Client) -> None:
    response = await client.get("/ws", headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
    assert response.status == 403


def test_the_served_command_is_kitsu_attach() -> None:
    assert shlex.split(served_command(None)) == [sys.executable, "-m", "kitsu_tui.cli", "attach"]
    config = Path("my show.toml")
    assert shlex.split(served_command(config, "python tests/fake_kitsu.py")) == [
        "python", "tests/fake_kitsu.py", "attach", "--config", str(config.resolve())]


def test_binding_beyond_this_machine_warns() -> None:
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    warning = exposure_warning("0.0.0.0")
    assert warning is not None and "0.0.0.0" in warning
    assert browser_url("0.0.0.0", 8766, "t") == "http://127.0.0.1:8766/?token=t"
    assert browser_url("::", 8766, "t") == "http://[::1]:8766/?token=t"


def _service(command: str, closed: asyncio.Event) -> ConsoleService:
    async def ignore(_: object) -> None:
        return None

    async def close() -> None:
        closed.set()

    return ConsoleService(command, write_bytes=ignore, write_str=ignore, close=close,
                          download_manager=DownloadManager())


async def test_a_console_that_ends_at_once_closes_its_tab() -> None:
    """No show running: `kitsu attach` exits before drawing; the page must say "Session ended", not stay blank."""
    closed = asyncio.Event()
    service = _service("echo 'kitsu: no show is running' >&2; exit 1", closed)
    await service.start(80, 24)
    await asyncio.wait_for(closed.wait(), 10)
    await service.stop()


async def test_a_console_that_ignores_quit_is_killed_with_its_children(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kitsu_tui.web, "STOP_TIMEOUT_S", 0.5)
    closed = asyncio.Event()
    service = _service("echo __GANGLION__; sleep 60; true", closed)
    earlier = {p.pid for p in psutil.Process().children(recursive=True)}  # peers other tests left running
    await service.start(80, 24)
    await asyncio.sleep(0.3)
    family = [p for p in psutil.Process().children(recursive=True) if p.pid not in earlier]
    assert any(p.name() == "sleep" for p in family)
    await asyncio.wait_for(service.stop(), 10)
    _, alive = psutil.wait_procs(family, timeout=5)
    assert not alive and closed.is_set()


async def test_a_taken_port_is_one_line_and_exit_1() -> None:
    lines: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        code = await serve_web("true", "127.0.0.1", port, TOKEN, echo=lines.append, warn=lines.append)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"kitsu: cannot listen on 127.0.0.1:{port}") and TOKEN not in lines[0]
