"""A local Twitch for tests: OAuth, a Helix subset and an EventSub WebSocket that speak Twitch's documented protocol.

twitchio's own network client talks to it over real sockets once TwitchSettings points api_base, auth_base and
eventsub_url here (as streamers point it at `twitch mock-api` / `twitch event websocket start-server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import WSMsgType, web


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Session:
    """One EventSub WebSocket connection."""

    id: str
    socket: web.WebSocketResponse
    keepalives: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class TwitchDouble:
    """Answers the calls twitchio makes for app/user tokens, users and EventSub subscriptions, and pushes events."""

    def __init__(self, client_id: str = "cid", client_secret: str = "csecret", bot_id: str = "2002",
                 bot_login: str = "kitsubot", user_token: str = "user-token", keepalive_s: float = 0.5,
                 users: dict[str, str] | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.bot_id, self.bot_login, self.user_token = bot_id, bot_login, user_token
        self.app_token = "app-" + uuid.uuid4().hex
        self.keepalive_s = keepalive_s
        self.users = users or {"kitsu": "1001", bot_login: bot_id}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, Session] = {}
        self.requests: list[tuple[str, str]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """Helix root for TwitchSettings.api_base."""
        return f"http://127.0.0.1:{self.port}/helix/"

    @property
    def auth_base(self) -> str:
        """OAuth root for TwitchSettings.auth_base."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def eventsub_url(self) -> str:
        """EventSub WebSocket for TwitchSettings.eventsub_url."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        """Listen on a free local port."""
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/oauth2/validate", self._validate)
        app.router.add_get("/helix/users", self._users)
        app.router.add_post("/helix/eventsub/subscriptions", self._subscribe)
        app.router.add_delete("/helix/eventsub/subscriptions", self._unsubscribe)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every socket and the server."""
        for session in list(self.sessions.values()):
            with contextlib.suppress(Exception):
                await session.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- OAuth and Helix ---------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        """Twitch's error body."""
        return web.json_response({"error": HTTPStatus(status).phrase, "status": status, "message": message},
                                 status=status)

    async def _token(self, request: web.Request) -> web.Response:
        """Client-credentials grant: an app token for the right id and secret."""
        self.requests.append(("POST", "/oauth2/token"))
        query = request.query
        if query.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported grant type")
        if (query.get("client_id"), query.get("client_secret")) != (self.client_id, self.client_secret):
            return self._error(403, "invalid client secret")
        return web.json_response({"access_token": self.app_token, "expires_in": 5_000_000, "token_type": "bearer"})

    async def _validate(self, request: web.Request) -> web.Response:
        """GET /oauth2/validate with `Authorization: OAuth <token>`."""
        self.requests.append(("GET", "/oauth2/validate"))
        token = request.headers.get("Authorization", "").removeprefix("OAuth ").removeprefix("Bearer ")
        if token == self.app_token:
            return web.json_response({"client_id": self.client_id, "scopes": [], "expires_in": 5_000_000})
        if token == self.user_token:
            return web.json_response({"client_id": self.client_id, "login": self.bot_login, "user_id": self.bot_id,
                                      "scopes": ["user:read:chat", "user:bot", "user:write:chat"],
                                      "expires_in": 14_000})
        return self._error(401, "invalid access token")

    def _authorized(self, request: web.Request) -> str | None:
        """The bearer token when it and the Client-Id header are valid."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if request.headers.get("Client-Id", request.headers.get("Client-ID")) != self.client_id:
            return None
        return token if token in (self.app_token, self.user_token) else None

    async def _users(self, request: web.Request) -> web.Response:
        """GET /helix/users?login=..&id=.."""
        self.requests.append(("GET", "/helix/users"))
        if self._authorized(request) is None:
            return self._error(401, "Invalid OAuth token")
        logins, ids = request.query.getall("login", []), request.query.getall("id", [])
        data = [{"id": uid, "login": login, "display_name": login.title(), "type": "", "broadcaster_type": "",
                 "description": "", "profile_image_url": "", "offline_image_url": "", "view_count": 0,
                 "created_at": "2020-01-01T00:00:00Z"}
                for login, uid in self.users.items() if login in logins or uid in ids]
        return web.json_response({"data": data})

    async def _subscribe(self, request: web.Request) -> web.Response:
        """POST /helix/eventsub/subscriptions: websocket transport needs a user token and a live session."""
        self.requests.append(("POST", "/helix/eventsub/subscriptions"))
        token = self._authorized(request)
        body = await request.json()
        transport = body.get("transport") or {}
        if transport.get("method") == "websocket" and token != self.user_token:
            return self._error(400, "websocket transport requires a user access token")
        session = self.sessions.get(str(transport.get("session_id")))
        if session is None:
            return self._error(400, "websocket transport session does not exist or has already disconnected")
        sub = {"id": str(uuid.uuid4()), "status": "enabled", "type": body["type"], "version": body["version"],
               "condition": body["condition"], "created_at": _now(), "cost": 0,
               "transport": {"method": "websocket", "session_id": session.id, "connected_at": _now()}}
        self.subscriptions[sub["id"]] = sub
        return web.json_response({"data": [sub], "total": len(self.subscriptions), "total_cost": 0,
                                  "max_total_cost": 10}, status=202)

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        """DELETE /helix/eventsub/subscriptions?id=.."""
        self.requests.append(("DELETE", "/helix/eventsub/subscriptions"))
        if self.subscriptions.pop(request.query.get("id", ""), None) is None:
            return self._error(404, "subscription not found")
        return web.Response(status=204)

    # --- EventSub WebSocket --------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Welcome, keepalives, and a close on any message from the client (Twitch closes with 4001)."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        session = Session(str(uuid.uuid4()), socket)
        self.sessions[session.id] = session
        old = self.sessions.get(request.query.get("reconnect_of", ""))
        if old is not None:  # subscriptions move to the new connection
            for sub in self.subscriptions.values():
                if sub["transport"]["session_id"] == old.id:
                    sub["transport"]["session_id"] = session.id
        await self._send(session, "session_welcome", {"session": self._session_payload(session, "connected")})
        if old is not None:  # the old connection ends once the new one is welcomed
            await old.socket.close()
        keepalive = asyncio.create_task(self._keepalive(session))
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await socket.close(code=4001, message=b"client sent inbound traffic")
        finally:
            keepalive.cancel()
            self.sessions.pop(session.id, None)
            session.closed.set()
            for sub in self.subscriptions.values():  # as Twitch does when a socket goes away
                if sub["transport"]["session_id"] == session.id:
                    sub["status"] = "websocket_disconnected"
        return socket

    def _session_payload(self, session: Session, status: str, reconnect_url: str | None = None) -> dict[str, Any]:
        return {"id": session.id, "status": status, "connected_at": _now(), "reconnect_url": reconnect_url,
                "recovery_url": None,
                "keepalive_timeout_seconds": None if status == "reconnecting" else 10}

    async def _send(self, session: Session, message_type: str, payload: dict[str, Any],
                    subscription: dict[str, Any] | None = None) -> None:
        """One message with Twitch's metadata envelope."""
        metadata = {"message_id": str(uuid.uuid4()), "message_type": message_type, "message_timestamp": _now()}
        if subscription is not None:
            metadata.update(subscription_type=subscription["type"], subscription_version=subscription["version"])
        await session.socket.send_str(json.dumps({"metadata": metadata, "payload": payload}))

    async def _keepalive(self, session: Session) -> None:
        """session_keepalive while nothing else is sent."""
        while not session.socket.closed:
            await asyncio.sleep(self.keepalive_s)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(session, "session_keepalive", {})
                session.keepalives += 1

    # --- what a test does to the show -------------------------------------------------------------

    def chat_subscription(self) -> dict[str, Any]:
        """The live channel.chat.message subscription (fails the test when there is none)."""
        subs = [s for s in self.subscriptions.values() if s["type"] == "channel.chat.message" and s["status"] == "enabled"]
        assert subs, f"no chat subscription; requests so far: {self.requests}"
        return subs[-1]

    async def send_chat(self, text: str, login: str = "viewer1", user_id: str = "3003",
                        badges: tuple[str, ...] = ()) -> None:
        """A channel.chat.message notification on the session that holds the chat subscription."""
        sub = self.chat_subscription()
        condition = sub["condition"]
        broadcaster = next((login_ for login_, uid in self.users.items() if uid == condition["broadcaster_user_id"]),
                           "kitsu")
        event = {
            "broadcaster_user_id": condition["broadcaster_user_id"], "broadcaster_user_login": broadcaster,
            "broadcaster_user_name": broadcaster.title(), "chatter_user_id": user_id, "chatter_user_login": login,
            "chatter_user_name": login.title(), "message_id": str(uuid.uuid4()),
            "message": {"text": text, "fragments": [{"type": "text", "text": text, "cheermote": None, "emote": None,
                                                     "mention": None}]},
            "color": "#1E90FF", "badges": [{"set_id": b, "id": "1", "info": ""} for b in badges],
            "message_type": "text", "cheer": None, "reply": None, "channel_points_custom_reward_id": None,
            "channel_points_animation_id": None, "source_broadcaster_user_id": None,
            "source_broadcaster_user_login": None, "source_broadcaster_user_name": None, "source_message_id": None,
            "source_badges": None, "is_source_only": None,
        }
        await self._send(self.sessions[sub["transport"]["session_id"]], "notification",
                         {"subscription": sub, "event": event}, sub)

    async def reconnect(self) -> str:
        """session_reconnect on the chat session; returns the old session id (it closes once the new one is up)."""
        session = self.sessions[self.chat_subscription()["transport"]["session_id"]]
        url = f"{self.eventsub_url}?reconnect_of={session.id}"
        await self._send(session, "session_reconnect", {"session": self._session_payload(session, "reconnecting", url)})
        return session.id

    async def revoke(self, status: str = "authorization_revoked") -> None:
        """A revocation message for the chat subscription (the user revoked the token, was banned...)."""
        sub = self.chat_subscription()
        sub["status"] = status
        await self._send(self.sessions[sub["transport"]["session_id"]], "revocation", {"subscription": sub}, sub)
        del self.subscriptions[sub["id"]]
