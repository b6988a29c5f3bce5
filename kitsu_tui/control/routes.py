"""The control API's endpoints: status, show commands, chat/say, persona, scene, avatar, stop and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable

from aiohttp import WSCloseCode, web

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.control.body import choice_field, flag_field, read_body, text_field
from kitsu_tui.control.capabilities import ExpressionTriggering, SceneSwitching
from kitsu_tui.control.codec import REPLAY_DONE
from kitsu_tui.control.guard import ApiError
from kitsu_tui.control.status import Tally, build_status
from kitsu_tui.control.stream import EventFeed, StreamClient
from kitsu_tui.engine.api import EngineApi
from kitsu_tui.engine.events import (
    Event,
    ModerationDecided,
    ModuleState,
    OperatorAction,
    Source,
    TurnRejected,
)
from kitsu_tui.engine.modules import TOGGLEABLE_CORE

PERSONA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A persona is named by its file in personas_dir: no paths, no dots."""
WS_HEARTBEAT_S = 20.0


def _json(data: dict[str, object], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


class Routes:
    """The handlers; every one runs after the guard let the request in, and checks its body before the engine."""

    def __init__(self, engine: EngineApi, on_stop: Callable[[], None], console_state: Callable[[], str],
                 feed: EventFeed, tally: Tally) -> None:
        self.engine = engine
        self.on_stop = on_stop
        self.console_state = console_state
        self.feed = feed
        self.tally = tally

    def add_to(self, app: web.Application) -> None:
        """Register every endpoint."""
        get, post = app.router.add_get, app.router.add_post
        get("/status", self.status)
        get("/stream", self.stream)
        post("/toggle/{module}", self.toggle)
        post("/persona", self.persona)
        for path in ("/say", "/tts"):
            post(path, self.say)
        for path in ("/chat", "/ingest/chat"):
            post(path, self.chat)
        post("/obs/scene", self.scene)
        post("/vts/expr", self.vts_expression)
        for path, handler in (("/panic", self.panic), ("/unpanic", self.unpanic), ("/skip", self.skip),
                              ("/interrupt", self.interrupt), ("/clear", self.clear), ("/mute", self.mute),
                              ("/pause", self.pause), ("/family", self.family), ("/hold/approve", self.hold),
                              ("/hold/dump", self.hold), ("/hold/dump_all", self.hold), ("/stop", self.stop)):
            post(path, handler)

    # --- reading ----------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        """GET /status."""
        return _json(await build_status(self.engine, self.console_state(), self.tally))

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        """WS /stream[?replay=1]: one JSON event per text message; replay first, then a ReplayDone marker."""
        replay = request.query.get("replay", "") in ("1", "true", "yes")
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT_S)
        await ws.prepare(request)
        backlog, client = self.feed.open(replay)
        sender = asyncio.create_task(self._send(ws, backlog, client, replay), name="kitsu-api-stream")
        try:
            async for _message in ws:
                pass  # nothing is read from clients; this loop answers pings and notices the close
        finally:
            self.feed.close(client)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _send(self, ws: web.WebSocketResponse, backlog: list[str], client: StreamClient, replay: bool) -> None:
        """Write the replay, the marker and then live events until the client or the server goes."""
        with contextlib.suppress(ConnectionError):
            for text in backlog:
                await ws.send_str(text)
            if replay:
                await ws.send_str(json.dumps({"kind": REPLAY_DONE}))
            while (live := await client.next()) is not None:
                await ws.send_str(live)
            if client.too_slow:
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"client too slow: events dropped")
            else:
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"show stopped")

    # --- commands ---------------------------------------------------------------------------

    async def toggle(self, request: web.Request) -> web.Response:
        """POST /toggle/{module} {"on"?}: start or stop a module or core stage (absent: flip)."""
        name = request.match_info["module"]
        on = flag_field(await read_body(request), "on")
        if name not in self.engine.modules and name not in TOGGLEABLE_CORE:
            raise ApiError(404, f"no module named {name!r} (known: {', '.join(self._toggleable())})")
        if on is None:
            state, _ = self.engine.module_states.get(name, (ModuleState.OFF, ""))
            on = state in (ModuleState.OFF, ModuleState.ERROR)
        await self.engine.toggle_module(name, on)
        state, reason = self.engine.module_states.get(name, (ModuleState.OFF, ""))
        return _json({"module": name, "on": on, "state": state.value, "reason": reason})

    def _toggleable(self) -> list[str]:
        return sorted({*self.engine.modules, *TOGGLEABLE_CORE})

    async def persona(self, request: web.Request) -> web.Response:
        """POST /persona {"name"}: switch persona (404: no such file, 422: the file is broken)."""
        name = text_field(await read_body(request), "name", max_chars=64)
        assert name is not None
        if not PERSONA_NAME.match(name):
            raise ApiError(400, '"name" must be a persona file name (letters, digits, - and _)')
        personas_dir = self.engine.settings.paths.personas_dir
        if not (personas_dir / f"{name}.toml").is_file():
            raise ApiError(404, f"no persona named {name!r} in {personas_dir}")
        try:
            await self.engine.switch_persona(name)
        except ConfigError as exc:
            raise ApiError(422, "; ".join(exc.problems) or str(exc)) from None
        except Exception as exc:
            raise ApiError(422, f"cannot switch to {name!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        persona = self.engine.persona
        return _json({"persona": persona.name, "display_name": persona.shown_name})

    async def say(self, request: web.Request) -> web.Response:
        """POST /say (alias /tts) {"text"}: speak it verbatim (output moderation still applies)."""
        text = text_field(await read_body(request), "text")
        assert text is not None
        return _json(self._submitted(lambda: self.engine.say(text)))

    async def chat(self, request: web.Request) -> web.Response:
        """POST /chat (alias /ingest/chat) {"text", "author"?, "source"?}: a line the persona answers."""
        body = await read_body(request)
        text = text_field(body, "text")
        author = text_field(body, "author", required=False, max_chars=64) or "api"
        source = Source(choice_field(body, "source", ("chat", "operator"), "chat"))
        assert text is not None
        decision = self.engine.moderate_input(text, source, author)
        if decision is not None and not decision.allowed:
            return _json({"accepted": False, "reason": f"blocked by moderation ({decision.rule})"})
        line = decision.text if decision is not None else text
        return _json(self._submitted(lambda: self.engine.submit_text(line, source, author, decision=decision,
                                                                     origin="api")))

    def _submitted(self, submit: Callable[[], bool]) -> dict[str, object]:
        """Run a submit call, catching the events it emits at once: the turn id and any refusal's reason."""
        seen: list[Event] = []
        listener = seen.append
        self.engine.bus.add_listener(listener)
        try:
            accepted = submit()
        finally:
            self.engine.bus.remove_listener(listener)
        reply: dict[str, object] = {"accepted": accepted}
        turn = next((e.turn_id for e in seen if isinstance(e, ModerationDecided | TurnRejected) and e.turn_id), 0)
        if turn:
            reply["turn"] = turn
        if not accepted:
            reply["reason"] = next((e.reason for e in seen if isinstance(e, TurnRejected)), "refused")
        return reply

    async def scene(self, request: web.Request) -> web.Response:
        """POST /obs/scene {"scene"}: make a scene live through the OBS module (404 when it cannot)."""
        scene = text_field(await read_body(request), "scene", max_chars=256)
        assert scene is not None
        obs = self.engine.modules.get("obs")
        if not isinstance(obs, SceneSwitching):
            raise ApiError(404, "no OBS module (enable [obs] in kitsu.toml)")
        try:
            detail = await obs.switch_scene(scene)
        except Exception as exc:
            raise ApiError(404, str(exc) or f"OBS cannot switch to {scene!r}") from None
        self.engine.emit(OperatorAction(action="scene", detail=scene, by="api"))
        return _json({"scene": scene, "detail": detail})

    async def vts_expression(self, request: web.Request) -> web.Response:
        """POST /vts/expr {"expression"?, "hotkey"?}: show an expression / press a hotkey in VTube Studio."""
        body = await read_body(request)
        expression = text_field(body, "expression", required=False, max_chars=256)
        hotkey = text_field(body, "hotkey", required=False, max_chars=256)
        if expression is None and hotkey is None:
            raise ApiError(400, 'give "expression" (an .exp3.json file) or "hotkey" (a hotkey id or name)')
        module = self.engine.modules.get("vts")
        if not isinstance(module, ExpressionTriggering):
            raise ApiError(404, "no VTube Studio module (enable [vts] in kitsu.toml)")
        try:
            detail = await module.trigger_expression(expression, hotkey)
        except Exception as exc:
            raise ApiError(404, str(exc) or "VTube Studio cannot do that") from None
        return _json({"detail": detail})

    async def panic(self, request: web.Request) -> web.Response:
        """POST /panic."""
        await read_body(request)
        self.engine.panic()
        return _json({"panicked": self.engine.panicked, "muted": self.engine.muted})

    async def unpanic(self, request: web.Request) -> web.Response:
        """POST /unpanic {"unmute"?}."""
        unmute = flag_field(await read_body(request), "unmute") or False
        self.engine.clear_panic(unmute)
        return _json({"panicked": self.engine.panicked, "muted": self.engine.muted})

    async def skip(self, request: web.Request) -> web.Response:
        """POST /skip: drop the sentence playing now."""
        await read_body(request)
        return _json({"skipped": self.engine.skip()})

    async def interrupt(self, request: web.Request) -> web.Response:
        """POST /interrupt: stop the current turn."""
        await read_body(request)
        return _json({"interrupted": self.engine.interrupt("operator")})

    async def clear(self, request: web.Request) -> web.Response:
        """POST /clear: drop every waiting turn."""
        await read_body(request)
        return _json({"dropped": self.engine.clear_queue()})

    async def mute(self, request: web.Request) -> web.Response:
        """POST /mute {"muted"?} (absent: flip)."""
        muted = flag_field(await read_body(request), "muted")
        self.engine.set_muted(not self.engine.muted if muted is None else muted)
        return _json({"muted": self.engine.muted})

    async def pause(self, request: web.Request) -> web.Response:
        """POST /pause {"paused"?} (absent: flip)."""
        paused = flag_field(await read_body(request), "paused")
        self.engine.set_paused(not self.engine.paused if paused is None else paused)
        return _json({"paused": self.engine.paused})

    async def family(self, request: web.Request) -> web.Response:
        """POST /family {"on"?} (absent: flip)."""
        on = flag_field(await read_body(request), "on")
        self.engine.set_family_friendly(not self.engine.family_friendly if on is None else on)
        return _json({"family_friendly": self.engine.family_friendly})

    async def hold(self, request: web.Request) -> web.Response:
        """POST /hold/approve, /hold/dump, /hold/dump_all: the pre-air hold's operator actions."""
        await read_body(request)
        action = request.path.rsplit("/", 1)[-1]
        if action == "approve":
            return _json({"approved": int(self.engine.approve_held())})
        if action == "dump":
            return _json({"dumped": int(self.engine.dump_held())})
        return _json({"dumped": self.engine.dump_all_held()})

    async def stop(self, request: web.Request) -> web.StreamResponse:
        """POST /stop: reply 202, then end the show (on_stop)."""
        await read_body(request)
        response = web.json_response({"stopping": True}, status=202)
        await response.prepare(request)
        await response.write_eof()
        asyncio.get_running_loop().call_soon(self.on_stop)
        return response
