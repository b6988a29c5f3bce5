"""`kitsu web`: the same console in a browser, served by textual-serve, one `kitsu attach` per browser tab.

textual-serve's Server builds an aiohttp app with the page (/), the terminal's WebSocket (/ws), /static
and /download; WebConsoleServer appends one aiohttp middleware (TokenGuard) that asks every request for the
control API's token (`?token=` once, then an HttpOnly SameSite=Strict cookie; or `Authorization: Bearer`).
It also renders the page with URLs on the request's own host (so the cookie reaches the WebSocket whatever
address the browser used), refuses a WebSocket from another origin, closes a tab whose console has ended
and stops every console when it stops. It never imports Textual: each tab runs the console as a subprocess.
textual-serve is pinned in pyproject.toml because this subclasses parts of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
import psutil
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

COOKIE_PREFIX = "kitsu_web_"
"""The session cookie is COOKIE_PREFIX + port: two `kitsu web` on one host keep their own."""
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Binding one of these keeps the console on this machine."""
STOP_TIMEOUT_S = 5.0
"""How long a console gets to quit after its tab closes or kitsu web stops."""
SHUTDOWN_TIMEOUT_S = STOP_TIMEOUT_S + 2.0
"""How long a stop waits for open browser sessions to close their consoles."""

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_value(token: str) -> str:
    """The cookie's value: derived from the token (a stolen cookie is not the API token itself)."""
    return hmac.new(token.encode("utf-8"), b"kitsu web session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _unauthorized(hint: str) -> web.Response:
    """The 401 page: how to open the console, never the token."""
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kitsu: token needed</title></head>"
        "<body style='background:#0c181f;color:#eee;font-family:monospace;padding:2em'>"
        "<h1>kitsu web: this console needs its token</h1>"
        "<p>Open the address <code>kitsu web</code> printed in its terminal (it ends in "
        "<code>/?token=...</code>). The browser then keeps a cookie and this address works without it.</p>"
        f"<p>{html.escape(hint)}</p></body></html>"
    )
    return web.Response(status=401, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "WWW-Authenticate": 'Bearer realm="kitsu"'})


@dataclass
class TokenGuard:
    """Checks every request for the token; `middleware` is what goes into the aiohttp app."""

    token: str
    cookie_name: str
    hint: str = ("The token is the control API's: the variable [api] token_env names ($KITSU_API_TOKEN), "
                 "else the [api] token file (data/api.token).")
    cookie_value: str = field(init=False)

    def __post_init__(self) -> None:
        self.cookie_value = session_value(self.token)

    def _bearer_ok(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and _same(value.strip(), self.token)

    def _cookie_ok(self, request: web.Request) -> bool:
        value = request.cookies.get(self.cookie_name)
        return value is not None and _same(value, self.cookie_value)

    def _set_cookie(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.cookie_name, self.cookie_value, path="/", httponly=True, samesite="Strict")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """401 without the token; a valid `?token=` on a page sets the cookie and redirects to the URL without it."""
        query_token = request.query.get("token")
        query_ok = query_token is not None and _same(query_token, self.token)
        if not (query_ok or self._cookie_ok(request) or self._bearer_ok(request)):
            return _unauthorized(self.hint)
        if query_ok and request.method == "GET" and request.path != "/ws":
            rest = request.rel_url.without_query_params("token")
            redirect = web.Response(status=303, headers={"Location": str(rest), "Cache-Control": "no-store"})
            self._set_cookie(redirect)
            return redirect
        response = await handler(request)
        if not response.prepared:
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response


class ConsoleService(AppService):
    """textual-serve's AppService (one console process per tab) that closes the tab when the console ends,
    also when it ends before drawing anything (no show running: the page says "Session ended"), and kills a
    console that does not quit within STOP_TIMEOUT_S."""

    async def run(self) -> None:
        """Relay the console until its process ends, then close the browser's WebSocket."""
        try:
            await super().run()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # textual-serve awaits its own cancelled stderr reader: a console that ends at once raises this
        finally:
            with contextlib.suppress(Exception):
                await self.remote_close()

    async def stop(self) -> None:
        """Ask the console to quit; kill it (and what its shell started) when it has not within STOP_TIMEOUT_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(super().stop(), STOP_TIMEOUT_S)
        process = self._process
        if process is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), max(0.1, deadline - loop.time()))
        if process.returncode is None:
            log.warning("kitsu web: a console did not quit within %.0fs; killing it", STOP_TIMEOUT_S)
            _kill_tree(process.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 2.0)


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants (the served command runs under a shell)."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.kill()


class WebConsoleServer(Server):
    """textual-serve's Server behind a TokenGuard, with host-relative page URLs and a clean stop."""

    def __init__(self, command: str, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="kitsu")
        self.guard = TokenGuard(token, f"{COOKIE_PREFIX}{port}")
        self._sessions: set[asyncio.Task[Any]] = set()

    async def make_app(self) -> web.Application:
        """textual-serve's app with the token middleware in front of every route."""
        app = await self._make_app()
        app.middlewares.append(self.guard.middleware)
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Say nothing: `serve_web` prints the one line with the address (textual-serve prints a logo)."""

    async def on_shutdown(self, app: web.Application) -> None:
        """End every browser session: each one's handler then stops its console (ConsoleService.stop)."""
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=SHUTDOWN_TIMEOUT_S)

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's page, with the WebSocket and static URLs on the host the browser used."""
        scheme = "wss" if request.secure else "ws"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One console per WebSocket (textual-serve's handler, with ConsoleService); 403 from another origin."""
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="kitsu web: the console's WebSocket only takes its own page")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        service: ConsoleService | None = None

        async def close() -> None:
            await websocket.close()

        try:
            await websocket.prepare(request)
            service = ConsoleService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                     close=close, download_manager=self.download_manager)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            pass  # kitsu web is stopping: the finally below ends this tab's console
        except Exception:
            log.exception("kitsu web: a browser session failed")
        finally:
            if service is not None:
                await service.stop()
            await websocket.close()
            if task is not None:
                self._sessions.discard(task)
        return websocket


def served_command(config: Path | None, kitsu_command: str | None = None) -> str:
    """The shell command each browser session runs: `kitsu attach` (with --config FILE when given).

    `kitsu_command` replaces the `kitsu` part (a shell string, for tests: "python tests/fake_kitsu.py");
    by default it is this interpreter running kitsu_tui.cli, so the served console is this install's.
    """
    base = kitsu_command or shlex.join([sys.executable, "-m", "kitsu_tui.cli"])
    extra = ["--config", str(config.resolve())] if config is not None else []
    return f"{base} {shlex.join(['attach', *extra])}"


def browser_url(host: str, port: int, token: str) -> str:
    """The address to open: a wildcard bind is opened on this machine's loopback address."""
    shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={quote(token, safe='')}"


def exposure_warning(host: str) -> str | None:
    """One warning line when the bind reaches beyond this machine, else None."""
    if host in LOCAL_HOSTS or host.startswith("127."):
        return None
    return (f"kitsu web: warning: listening on {host}, not only this machine: anyone who can reach it and has "
            "the token can drive the show, and plain HTTP carries the token unencrypted")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def serve_web(command: str, host: str, port: int, token: str, echo: Callable[[str], None] = print,
                    warn: Callable[[str], None] = _to_stderr) -> int:
    """Serve the console until SIGINT or SIGTERM: 0 after a clean stop, 1 when the address cannot be bound.

    `echo` gets the one line with the address (and the token: the terminal only, never a log); `warn` gets
    the warning about a bind beyond this machine and the error when the port is taken.
    """
    server = WebConsoleServer(command, host, port, token)
    runner = web.AppRunner(await server.make_app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            warn(f"kitsu: cannot listen on {host}:{port}: {exc.strerror or exc} (pick another --port)")
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        if warning := exposure_warning(host):
            warn(warning)
        echo(f"kitsu web: open {browser_url(host, port, token)}  (Ctrl-C stops)")
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signum)
    finally:
        await runner.cleanup()
    return 0
