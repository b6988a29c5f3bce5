"""The control API server: aiohttp on the engine's own asyncio loop, bound to [api] host:port, token-guarded.

aiohttp is already installed (twitchio needs it), runs inside the loop the engine runs on, and serves HTTP and
WebSockets alike; FastAPI + uvicorn would add four packages, and uvicorn wants to own the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from kitsu_tui.config.settings import ApiSettings, Settings
from kitsu_tui.control.client import http_url
from kitsu_tui.control.guard import make_guard
from kitsu_tui.control.routes import Routes
from kitsu_tui.control.status import Tally
from kitsu_tui.control.stream import EventFeed
from kitsu_tui.control.token import load_or_create_token, token_path
from kitsu_tui.engine.api import EngineApi

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT_S = 2.0


class ControlApiError(Exception):
    """The control API cannot start (its port is taken, its token file cannot be written); str() is one line."""


class ControlServer:
    """Serves the control API for one engine until close(); every request needs the token."""

    def __init__(self, engine: EngineApi, settings: ApiSettings, token: str, on_stop: Callable[[], None],
                 console_state: Callable[[], str]) -> None:
        self.engine = engine
        self.settings = settings
        self._token = token
        self.on_stop = on_stop
        self.console_state = console_state
        self.feed = EventFeed(engine.bus)
        self.tally = Tally()
        self._runner: web.AppRunner | None = None
        self._port = settings.port

    @property
    def url(self) -> str:
        """The base URL clients use (the bound port once started, so port 0 shows the real one)."""
        return http_url(self.settings.host, self._port)

    def _app(self) -> web.Application:
        guard, add_cors = make_guard(self.settings, self._token)
        app = web.Application(middlewares=[guard], client_max_size=MAX_BODY_BYTES)
        app.on_response_prepare.append(add_cors)
        Routes(self.engine, self.on_stop, self.console_state, self.feed, self.tally).add_to(app)
        return app

    async def start(self) -> None:
        """Listen on host:port and follow the engine's events; ControlApiError (one line) when it cannot bind."""
        host, port = self.settings.host, self.settings.port
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False,
                               shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = "the port is taken (another show?)" if exc.errno in (98, 48, 10048) else exc.strerror or exc
            raise ControlApiError(f"control API cannot listen on {host}:{port}: {reason}") from None
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self._port = int(addresses[0][1])
        self.feed.start()
        self.engine.bus.add_listener(self.tally)
        log.info("control API listening at %s", self.url)

    async def close(self) -> None:
        """End every event stream, stop listening and finish the requests in flight."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.engine.bus.remove_listener(self.tally)
        self.feed.stop()
        await runner.cleanup()
        log.info("control API closed")


async def open_control_api(engine: EngineApi, settings: Settings, on_stop: Callable[[], None],
                           console_state: Callable[[], str]) -> ControlServer:
    """Load (or create) the token and start the server; ControlApiError (one line) when either cannot be done."""
    api = settings.api
    try:
        token = await asyncio.to_thread(load_or_create_token, api, settings.paths.data_dir)
    except OSError as exc:
        path = token_path(api, settings.paths.data_dir)
        raise ControlApiError(f"control API off: cannot write its token file {path} ({exc.strerror or exc})") from None
    server = ControlServer(engine, api, token, on_stop, console_state)
    await server.start()
    return server


async def start_control_api(engine: EngineApi, settings: Settings, on_stop: Callable[[], None],
                            console_state: Callable[[], str]) -> ControlServer | None:
    """Start the control API for a show (kitsu run, headless or console); None when [api] is off or it cannot.

    A taken port or an unwritable token file is one warning line through engine.notice: the show goes on.
    `console_state()` says what drives the show ("in-process", "attached", "detached", "headless").
    """
    api = settings.api
    if not api.enabled:
        engine.notice("info", "control API off ([api] enabled = false)")
        return None
    try:
        server = await open_control_api(engine, settings, on_stop, console_state)
    except ControlApiError as exc:
        engine.notice("warning", f"{exc}; the show goes on without it")
        return None
    engine.notice("info", f"control API at {server.url} (token: ${api.token_env} or "
                          f"{token_path(api, settings.paths.data_dir)})")
    return server
