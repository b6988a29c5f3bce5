"""VTube Studio plugin API plumbing: message envelope, documented error IDs, request/response matching, token file."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

API_NAME = "VTubeStudioPublicAPI"
API_VERSION = "1.0"

# Documented ErrorIDs (DenchiSoft/VTubeStudio Files/ErrorID.cs) that kitsu reacts to.
API_ACCESS_DEACTIVATED = 1
REQUIRES_AUTHENTICATION = 8
TOKEN_REQUEST_DENIED = 50
TOKEN_REQUEST_ONGOING = 51
HOTKEY_QUEUE_FULL = 200
HOTKEY_NO_MODEL = 201
HOTKEY_NOT_FOUND = 202
HOTKEY_COOLDOWN = 203
INJECT_PARAM_NOT_FOUND = 453
INJECT_CONTROLLED_BY_OTHER_PLUGIN = 454
EXPRESSION_INVALID_FILENAME = 650
EXPRESSION_NOT_FOUND = 651
EXPRESSION_NO_MODEL = 652


class VtsApiError(Exception):
    """An APIError answer: errorID and VTS's message."""

    def __init__(self, error_id: int, message: str, request_type: str) -> None:
        self.error_id = error_id
        self.message = message
        self.request_type = request_type
        super().__init__(f"{request_type}: VTS error {error_id}: {message}")


def envelope(message_type: str, data: dict[str, Any], request_id: str) -> str:
    """A request in the API's JSON envelope."""
    return json.dumps({"apiName": API_NAME, "apiVersion": API_VERSION, "requestID": request_id,
                       "messageType": message_type, "data": data})


class VtsConnection:
    """One WebSocket to VTube Studio: awaited requests matched by requestID, fire-and-forget sends."""

    def __init__(self, ws: ClientConnection, on_async_error: Callable[[VtsApiError], None],
                 on_async_ok: Callable[[str], None]) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._sent_types: dict[str, str] = {}
        self._on_async_error = on_async_error
        self._on_async_ok = on_async_ok

    def _next_id(self, prefix: str) -> str:
        """A unique requestID."""
        return f"kitsu-{prefix}-{next(self._ids)}"

    async def request(self, message_type: str, data: dict[str, Any], wait_s: float = 5.0) -> dict[str, Any]:
        """Send a request and return the response's data; an APIError answer raises VtsApiError."""
        request_id = self._next_id("req")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (message_type, future)
        try:
            await self.ws.send(envelope(message_type, data, request_id))
            return await asyncio.wait_for(future, wait_s)
        finally:
            self._pending.pop(request_id, None)

    async def send(self, message_type: str, data: dict[str, Any]) -> None:
        """Send without waiting; the answer goes to on_async_ok / on_async_error."""
        request_id = self._next_id("ff")
        if len(self._sent_types) > 256:  # answers that never came: forget the oldest
            self._sent_types.pop(next(iter(self._sent_types)))
        self._sent_types[request_id] = message_type
        await self.ws.send(envelope(message_type, data, request_id))

    async def read_forever(self) -> None:
        """Dispatch every incoming message until the socket closes (then fail pending requests)."""
        try:
            async for raw in self.ws:
                self._dispatch(raw)
        except ConnectionClosed:
            pass
        finally:
            for _type, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("VTube Studio closed the connection"))

    def _dispatch(self, raw: str | bytes) -> None:
        """Route one incoming message to its waiting request or to the async callbacks."""
        try:
            message = json.loads(raw)
            request_id = str(message.get("requestID", ""))
            message_type = str(message.get("messageType", ""))
            data = message.get("data") or {}
        except (ValueError, AttributeError):
            log.warning("vts: ignoring a malformed message")
            return
        pending = self._pending.get(request_id)
        sent_type = pending[0] if pending else self._sent_types.pop(request_id, message_type)
        error = None
        if message_type == "APIError":
            error = VtsApiError(int(data.get("errorID", -1)), str(data.get("message", "")), sent_type)
        if pending is not None:
            future = pending[1]
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(data)
        elif error is not None:
            self._on_async_error(error)
        else:
            self._on_async_ok(sent_type)

    async def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(Exception):
            await self.ws.close()


class TokenStore:
    """The plugin token on disk, readable by the user only (0600 in a 0700 directory when created)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        """The stored token, or None."""
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return token or None

    def save(self, token: str) -> None:
        """Write the token atomically with mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Forget the token (VTS rejected it)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
