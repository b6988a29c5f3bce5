"""A TCP pass-through on its own thread that can go down (every connection cut, the port refusing) and come
back: how a soak kills and restarts OBS or drops the VTube Studio socket without owning those programs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

from kitsu_tui.soak.llmserver import reopenable_port


class TcpProxy:
    """Relays 127.0.0.1:port to an upstream host:port; down() cuts every connection and closes the port."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    def start(self, timeout_s: float = 5.0) -> None:
        """Listen (on a free port when port=0) and return once connections are accepted."""
        self._thread = threading.Thread(target=self._serve, name="kitsu-tcp-fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._server is None:
            raise RuntimeError("tcp fault proxy did not start")

    def down(self) -> None:
        """The peer dies: every open connection is cut and new ones are refused."""
        self._call(self._down())

    def up(self) -> None:
        """The peer is back: the port accepts connections again."""
        self._call(self._listen())

    def stop(self) -> None:
        """Close everything and end the thread."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(self._down(), loop).result(5.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
        self._loop = None

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("tcp fault proxy is not running")
        asyncio.run_coroutine_threadsafe(coro, loop).result(10.0)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        with contextlib.suppress(OSError):
            loop.run_until_complete(self._listen())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _listen(self) -> None:
        """Listen on the port (again); a port briefly still held is retried for up to 5 s."""
        if self._server is not None:
            return
        if self.port == 0:
            self.port = reopenable_port()
        deadline = asyncio.get_running_loop().time() + 5.0
        while True:
            try:
                self._server = await asyncio.start_server(self._relay, self.host, self.port, reuse_address=True)
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)
        for side in (writer, up_writer):
            self._writers.discard(side)
            side.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until either side closes."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()
