"""obs-websocket v5 through obsws-python, kept off the event loop: blocking calls run on one dedicated thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import obsws_python as obsws
from obsws_python.error import OBSSDKError, OBSSDKRequestError

log = logging.getLogger(__name__)

# obsws-python logs its connection parameters, password included, at INFO, and a traceback per
# refused connect: keep its logger quiet so no secret reaches kitsu's logs.
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)


class ObsRequestFailed(Exception):
    """OBS answered a request with an error status (unknown scene, input without audio...)."""


class ObsConnection:
    """A request client and an event client to one OBS; every blocking call runs on the `obs` thread."""

    def __init__(self, host: str, port: int, password: str, timeout_s: float) -> None:
        self.host = host
        self.port = port
        self._password = password
        self._timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kitsu-obs")
        self._requests: Any = None
        self._events: Any = None

    def __repr__(self) -> str:
        return f"ObsConnection({self.host}:{self.port})"

    async def _run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call on the OBS thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def connect(self, on_scene: Callable[[str], None]) -> None:
        """Open and identify both clients; `on_scene(name)` is called on the loop when the program scene changes."""
        loop = asyncio.get_running_loop()

        def on_current_program_scene_changed(data: Any) -> None:
            """obsws-python callback (its name selects the event), run on its reader thread."""
            loop.call_soon_threadsafe(on_scene, str(getattr(data, "scene_name", "")))

        def open_clients() -> None:
            """Create and identify both obsws clients (blocking)."""
            kwargs = {"host": self.host, "port": self.port, "password": self._password, "timeout": self._timeout_s}
            self._requests = obsws.ReqClient(**kwargs)
            self._events = obsws.EventClient(**kwargs)
            self._events.callback.register(on_current_program_scene_changed)

        await self._run(open_clients)

    @property
    def events_alive(self) -> bool:
        """Whether the event reader thread still runs (it ends when OBS goes away)."""
        worker = getattr(self._events, "worker", None)
        return bool(worker is not None and worker.is_alive())

    async def call(self, method: str, *args: Any) -> Any:
        """Call a ReqClient method on the OBS thread; a request error raises ObsRequestFailed."""
        if self._requests is None:
            raise ConnectionError("not connected to OBS")
        func = getattr(self._requests, method)
        try:
            return await self._run(func, *args)
        except OBSSDKRequestError as exc:
            raise ObsRequestFailed(str(exc).replace("With message: ", "")) from exc

    async def close(self) -> None:
        """Close both sockets (without waiting on OBS) and release the thread."""
        requests, events = self._requests, self._events
        self._requests = self._events = None

        def close_all() -> None:
            """Shut both sockets down without a close handshake (blocking)."""
            for client in (events, requests):
                ws = getattr(getattr(client, "base_client", None), "ws", None)
                if ws is not None:
                    with contextlib.suppress(Exception):
                        ws.shutdown()

        with contextlib.suppress(RuntimeError):
            await self._run(close_all)
        self._executor.shutdown(wait=False, cancel_futures=True)


def describe_connect_error(exc: BaseException, host: str, port: int, has_password: bool) -> str:
    """One readable line for a failed obs-websocket login."""
    text = str(exc)
    if "no password provided" in text:
        return f"OBS at {host}:{port} requires a password: set KITSU_OBS_PASSWORD or [obs] password"
    if isinstance(exc, OBSSDKError) or "4009" in text or "Connection to remote host was lost" in text:
        hint = "wrong password? check KITSU_OBS_PASSWORD" if has_password else "is a password required?"
        return f"OBS at {host}:{port} refused the login ({hint})"
    return f"OBS unreachable at {host}:{port} ({type(exc).__name__})"
