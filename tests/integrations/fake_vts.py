"""A local VTube Studio plugin-API server for tests, written from the DenchiSoft/VTubeStudio README and ErrorID list."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

API = {"apiName": "VTubeStudioPublicAPI", "apiVersion": "1.0"}


class FakeVTS:
    """Implements auth (token request, Allow/Deny), parameter injection, expressions and hotkeys with error IDs."""

    def __init__(self, token: str = "fake-token-123") -> None:
        self.token = token
        self.deny = False  # the streamer clicks Deny -> error 50
        self.api_access_off = False  # plugin access deactivated -> error 1
        self.other_plugin_controls: set[str] = set()  # -> error 454 on inject
        self.hotkeys = {"hk-0": "Smile", "hk-1": "Wave"}
        self.expressions: dict[str, bool] = {"happy.exp3.json": False, "angry.exp3.json": False}
        self.params: dict[str, float] = {"MouthOpen": 0.0, "MouthSmile": 0.0, "FaceAngleX": 0.0}
        self.injections: list[tuple[float, dict[str, float]]] = []  # (monotonic time, id -> value)
        self.token_requests = 0
        self.auth_attempts: list[tuple[str, bool]] = []
        self.triggered: list[str] = []
        self.activations: list[tuple[str, bool]] = []  # (expressionFile, active) of every accepted request
        self.connections: list[ServerConnection] = []
        self.server: Server | None = None

    def _resp(self, req: dict[str, Any], mtype: str, data: dict[str, Any]) -> dict[str, Any]:
        return {**API, "timestamp": int(time.time() * 1000), "messageType": mtype,
                "requestID": req.get("requestID") or str(uuid.uuid4()), "data": data}

    def _err(self, req: dict[str, Any], eid: int, msg: str) -> dict[str, Any]:
        return self._resp(req, "APIError", {"errorID": eid, "message": msg})

    def handle(self, req: dict[str, Any], session: dict[str, bool]) -> dict[str, Any]:
        """Answer one request the way VTube Studio documents it."""
        if req.get("apiName") != "VTubeStudioPublicAPI":
            return self._err(req, 3, "apiName invalid")
        if self.api_access_off:
            return self._err(req, 1, "API access deactivated by the user")
        t, d = req.get("messageType"), req.get("data") or {}
        if t == "APIStateRequest":
            return self._resp(req, "APIStateResponse", {"active": True, "vTubeStudioVersion": "fake",
                                                         "currentSessionAuthenticated": session["auth"]})
        if t == "AuthenticationTokenRequest":
            self.token_requests += 1
            if self.deny:
                return self._err(req, 50, "User has denied API access for your plugin.")
            return self._resp(req, "AuthenticationTokenResponse", {"authenticationToken": self.token})
        if t == "AuthenticationRequest":
            ok = d.get("authenticationToken") == self.token
            self.auth_attempts.append((str(d.get("authenticationToken")), ok))
            session["auth"] = ok
            return self._resp(req, "AuthenticationResponse",
                              {"authenticated": ok, "reason": "Token valid." if ok else "Token invalid."})
        if not session["auth"]:
            return self._err(req, 8, "Request requires authentication")
        if t == "HotkeyTriggerRequest":
            hid = str(d.get("hotkeyID", ""))
            key = hid if hid in self.hotkeys else next(
                (k for k, n in self.hotkeys.items() if n.lower() == hid.lower()), None)
            if key is None:
                return self._err(req, 202, f"Hotkey {hid} not found")
            self.triggered.append(self.hotkeys[key])
            return self._resp(req, "HotkeyTriggerResponse", {"hotkeyID": key})
        if t == "ExpressionActivationRequest":
            f = str(d.get("expressionFile", ""))
            if not f.endswith(".exp3.json"):
                return self._err(req, 650, f"Invalid expression filename {f}")
            if f not in self.expressions:
                return self._err(req, 651, f"Expression {f} not found")
            self.expressions[f] = bool(d.get("active"))
            self.activations.append((f, bool(d.get("active"))))
            return self._resp(req, "ExpressionActivationResponse", {})
        if t == "InjectParameterDataRequest":
            return self._inject(req, d)
        return self._err(req, 7, f"Unknown request type {t}")

    def _inject(self, req: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
        vals = d.get("parameterValues") or []
        if not vals:
            return self._err(req, 450, "No data provided")
        if d.get("mode", "set") not in ("set", "add"):
            return self._err(req, 455, "Unknown mode")
        for pv in vals:
            if pv.get("id") not in self.params:
                return self._err(req, 453, f"Parameter {pv.get('id')} not found")
            if pv.get("id") in self.other_plugin_controls:
                return self._err(req, 454, f"Parameter {pv.get('id')} is controlled by another plugin")
        frame = {}
        for pv in vals:
            value = float(pv["value"])
            self.params[pv["id"]] = self.params[pv["id"]] + value if d.get("mode") == "add" else value
            frame[pv["id"]] = self.params[pv["id"]]
        self.injections.append((time.monotonic(), frame))
        return self._resp(req, "InjectParameterDataResponse", {})

    async def _conn(self, ws: ServerConnection) -> None:
        session = {"auth": False}
        self.connections.append(ws)
        async for raw in ws:
            try:
                req = json.loads(raw)
            except ValueError:
                answer = self._err({}, 2, "JSON invalid")
            else:
                answer = self.handle(req, session)
            with contextlib.suppress(ConnectionClosed):  # the socket was dropped while a request was answered
                await ws.send(json.dumps(answer))

    async def drop(self) -> None:
        """Close the newest plugin connection, as VTube Studio does when it restarts or the API is toggled."""
        await self.connections[-1].close()

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (port 0 = any free port) and return the port."""
        self.server = await serve(self._conn, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the server and every connection."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
