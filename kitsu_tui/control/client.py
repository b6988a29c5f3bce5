"""An async client of the control API (aiohttp): status, commands and the event stream of a running show."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp

from kitsu_tui.config.settings import Settings
from kitsu_tui.control.token import read_token, token_path

TIMEOUT_S = 30.0
"""Longest wait for one HTTP answer (a persona switch loads a voice)."""


class ControlError(Exception):
    """A request the show refused (status: the HTTP code) or could not get to it (status 0); str() is one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def http_url(host: str, port: int) -> str:
    """http://host:port, with brackets around an IPv6 address; a wildcard bind is reached on loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def no_show(base_url: str, detail: str = "") -> str:
    """The one line for a control API that does not answer."""
    return f"no show is running at {base_url}{detail} (start one with `kitsu run`)"


class ControlClient:
    """Talks to one show's control API; make it inside a running event loop and close() it when done."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        """The API token this client sends (never logged)."""
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"},
                                                  timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        return self._session

    async def status(self) -> dict[str, Any]:
        """GET /status: the show's state."""
        return await self._request("GET", "/status")

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a command (e.g. "/say", {"text": "hi"}); raises ControlError with the server's one-line reason."""
        return await self._request("POST", path, body)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + "/" + path.lstrip("/")
        try:
            async with self._http().request(method, url, json=body) as response:
                text = await response.text()
                status = response.status
        except aiohttp.ClientConnectorError:
            raise ControlError(0, no_show(self.base_url)) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(0, f"the show at {self.base_url} did not answer ({type(exc).__name__})") from None
        data = _object(text)
        if status >= 400:
            raise ControlError(status, str(data.get("error") or f"HTTP {status}"))
        return data

    async def stream(self, replay: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Every engine event as a dict (decode_event rebuilds it); with `replay`, recent ones first, then a
        {"kind": "ReplayDone"} marker. Ends when the show closes the stream."""
        url = self.base_url + "/stream" + ("?replay=1" if replay else "")
        try:
            ws = await self._http().ws_connect(url, heartbeat=20.0, timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        except aiohttp.WSServerHandshakeError as exc:
            raise ControlError(exc.status, "missing or wrong API token" if exc.status == 401
                               else f"stream refused: HTTP {exc.status}") from None
        except aiohttp.ClientConnectorError:
            raise ControlError(0, no_show(self.base_url)) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ControlError(0, f"the show at {self.base_url} did not answer ({type(exc).__name__})") from None
        async with ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    data = _object(str(message.data))
                    if data:
                        yield data
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break

    async def close(self) -> None:
        """Close the HTTP session (and with it any open stream)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


def _object(text: str) -> dict[str, Any]:
    """A JSON object from a response body ({} for anything else)."""
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def client_for(settings: Settings) -> ControlClient:
    """A client for the show these settings describe ([api] host/port, token from the env var or the token file).

    Raises ControlError (status 0) when there is no token: no show ever ran here, or it runs elsewhere.
    """
    api = settings.api
    url = http_url(api.host, api.port)
    token = read_token(api, settings.paths.data_dir)
    if token is None:
        path = token_path(api, settings.paths.data_dir)
        raise ControlError(0, no_show(url, f": no API token (${api.token_env} is unset and {path} is missing)"))
    return ControlClient(url, token)
