"""A small HTTP fault proxy in front of an OpenAI-compatible server: passes through, or answers 500, hangs,
refuses connections or cuts a stream mid-reply, switched at run time from any thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable

import aiohttp
from aiohttp import web

from kitsu_tui.soak.llmserver import reopenable_port

MODES = ("pass", "500", "hang", "refuse", "cut")
CUT_AFTER_CHUNKS = 4
"""Stream chunks forwarded before a 'cut' drops the connection (the reply has started, then breaks off)."""
REOPEN_S = 5.0
"""How long a reopened port is retried when the kernel still holds it."""
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


class FaultProxy:
    """Forwards every request to `upstream` on its own thread and event loop; `mode` decides what goes wrong."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.host = host
        self.port = port
        self.mode = "pass"
        self.requests = 0
        self.faulted = 0
        """Requests that met a fault (not passed through cleanly)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL (same path layout as the upstream)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening (on a free port when port=0) and return once it accepts connections."""
        self._thread = threading.Thread(target=self._serve, name="kitsu-fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"fault proxy did not start: {self._error or 'timeout'}")

    def set_mode(self, mode: str) -> None:
        """Switch the fault; 'refuse' closes the listening port, anything else reopens it."""
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}; one of {', '.join(MODES)}")
        self._call(self._apply(mode))

    def stop(self) -> None:
        """Stop serving and end the thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
        self._loop = None

    def _call(self, coro: Awaitable[None]) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("fault proxy is not running")

        async def wrapped() -> None:
            await coro

        asyncio.run_coroutine_threadsafe(wrapped(), loop).result(10.0)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        """Listen on the port (again); a port briefly still held is retried for up to REOPEN_S."""
        assert self._runner is not None
        if self.port == 0:
            self.port = reopenable_port()
        deadline = asyncio.get_running_loop().time() + REOPEN_S
        while True:
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            try:
                await site.start()
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
            self._site = site
            return

    async def _apply(self, mode: str) -> None:
        was, self.mode = self.mode, mode
        if mode == "refuse" and was != "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None
        elif mode != "refuse" and self._site is None:
            await self._listen()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        mode = self.mode
        if mode != "pass":
            self.faulted += 1
        if mode == "refuse":  # a connection kept alive from before the port closed: the server is gone
            _drop(request)
            return web.Response(status=503)
        if mode == "500":
            return web.json_response({"error": {"message": "injected fault: internal server error"}}, status=500)
        if mode == "hang":
            while self.mode == "hang":  # noqa: ASYNC110 - never answer while the fault lasts (client times out)
                await asyncio.sleep(0.1)
            return web.json_response({"error": {"message": "injected fault: request held"}}, status=503)
        return await self._forward(request, cut=mode == "cut")

    async def _forward(self, request: web.Request, cut: bool) -> web.StreamResponse:
        try:
            return await self._relay(request, cut)
        except (ConnectionError, aiohttp.ClientError) as exc:  # the client hung up (an interrupt) or upstream died
            _drop(request)
            if isinstance(exc, aiohttp.ClientConnectorError):
                return web.json_response({"error": {"message": f"upstream unreachable: {exc}"}}, status=502)
            return web.Response(status=499)

    async def _relay(self, request: web.Request, cut: bool) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        body = await request.read()
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream")})
            await response.prepare(request)
            chunks = 0
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                chunks += 1
                if cut and chunks >= CUT_AFTER_CHUNKS:
                    _drop(request)
                    return response
            await response.write_eof()
            return response


def _drop(request: web.Request) -> None:
    """Close the client's connection at once (no proper HTTP ending)."""
    transport = request.transport
    if transport is not None:
        transport.abort()

