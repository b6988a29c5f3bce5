"""VTube Studio plugin: authenticates with a persisted token and drives MouthOpen/MouthSmile and mood expressions."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI

from kitsu_tui.config.settings import VtsSettings
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations import vts_protocol as vp
from kitsu_tui.integrations.avatar import AvatarModule, MoodPlan
from kitsu_tui.integrations.base import IntegrationError, StopRetrying
from kitsu_tui.integrations.vts_protocol import TokenStore, VtsApiError, VtsConnection

log = logging.getLogger(__name__)

#: How long kitsu stops injecting after VTS says another plugin controls the parameter.
CONTROL_RETRY_S = 3.0


class VtsModule(AvatarModule):
    """Drives a VTube Studio model: mouth at rate_hz while speaking, keep-alive when silent, mood actions."""

    name = "vts"

    def __init__(self, settings: VtsSettings, token_path: Path) -> None:
        super().__init__()
        self.settings = settings
        self.tokens = TokenStore(token_path)
        self.smile = 0.4
        self.frames_sent = 0
        self.active_expression: str | None = None
        self._conn: VtsConnection | None = None
        self._moods: asyncio.Queue[MoodPlan] = asyncio.Queue(maxsize=8)
        self._inject_paused_until = 0.0
        self._fatal: IntegrationError | None = None

    def target(self) -> str:
        """The API address."""
        return self.settings.url

    def on_mood(self, plan: MoodPlan) -> None:
        """Set the smile now and queue the expression/hotkey for the mood worker (the oldest waiting plan gives way)."""
        self.smile = plan.smile
        if self._moods.full():
            self._moods.get_nowait()
        self._moods.put_nowait(plan)

    # --- session --------------------------------------------------------------------------

    async def session(self) -> None:
        """Connect, authenticate, then run the reader, mouth sender and mood worker until the socket drops."""
        url = self.settings.url
        try:
            ws = await connect(url, open_timeout=3, ping_interval=10, max_size=2**20)
        except InvalidURI as exc:
            raise StopRetrying(f"[vts] url {url!r} is not a ws:// address") from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise IntegrationError(f"VTS API off: nothing answers at {url} "
                                   "(VTube Studio > Settings > Start API)") from exc
        self._fatal = None
        self._conn = VtsConnection(ws, self._on_async_error, self._on_async_ok)
        reader = asyncio.create_task(self._conn.read_forever(), name="vts:reader")
        try:
            await self._authenticate(self._conn)
            self.set_state(ModuleState.ON, f"authenticated at {url}")
            workers = [asyncio.create_task(self._send_mouth(self._conn), name="vts:mouth"),
                       asyncio.create_task(self._mood_worker(self._conn), name="vts:mood")]
            try:
                await reader
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        raise self._fatal or IntegrationError(f"VTube Studio closed the connection at {url}")

    async def _authenticate(self, conn: VtsConnection) -> None:
        """Use the stored token, or ask the streamer to Allow kitsu in VTS; a rejected token is replaced once."""
        token = self.tokens.load()
        fresh = False
        for _attempt in range(2):
            if token is None:
                token, fresh = await self._request_token(conn), True
            try:
                answer = await conn.request("AuthenticationRequest", {
                    "pluginName": self.settings.plugin_name, "pluginDeveloper": self.settings.plugin_developer,
                    "authenticationToken": token})
            except VtsApiError as exc:
                raise self._error_for(exc) from exc
            if answer.get("authenticated"):
                return
            log.info("vts: token rejected (%s); requesting a new one", answer.get("reason", ""))
            self.tokens.clear()
            if fresh:
                break
            token = None
        raise IntegrationError("VTube Studio rejected a freshly issued token")

    async def _request_token(self, conn: VtsConnection) -> str:
        """Ask VTS for a token (the streamer clicks Allow) and store it."""
        self.set_state(ModuleState.CONNECTING, "click Allow for kitsu in VTube Studio")
        try:
            answer = await conn.request("AuthenticationTokenRequest", {
                "pluginName": self.settings.plugin_name, "pluginDeveloper": self.settings.plugin_developer},
                wait_s=300.0)
        except VtsApiError as exc:
            raise self._error_for(exc) from exc
        except TimeoutError as exc:
            raise IntegrationError("nobody clicked Allow in VTube Studio within 5 minutes") from exc
        token = str(answer.get("authenticationToken", ""))
        if not token:
            raise IntegrationError("VTube Studio sent an empty token")
        self.tokens.save(token)
        return token

    def _error_for(self, exc: VtsApiError) -> IntegrationError:
        """Map documented error IDs to readable states."""
        if exc.error_id == vp.TOKEN_REQUEST_DENIED:
            return StopRetrying("denied by user in VTube Studio - turn vts off and on to ask again")
        if exc.error_id == vp.API_ACCESS_DEACTIVATED:
            return IntegrationError("VTS API off: plugin access is deactivated in VTube Studio")
        if exc.error_id == vp.TOKEN_REQUEST_ONGOING:
            return IntegrationError("a token request is already waiting in VTube Studio")
        if exc.error_id == vp.REQUIRES_AUTHENTICATION:
            return IntegrationError("VTube Studio dropped the authentication - re-authenticating")
        return IntegrationError(f"VTube Studio error {exc.error_id}: {exc.message}")

    # --- mouth ----------------------------------------------------------------------------

    async def _send_mouth(self, conn: VtsConnection) -> None:
        """Inject MouthOpen and MouthSmile at rate_hz while speaking, every keepalive_s otherwise."""
        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.rate_hz
        last_sent = -1e9
        next_at = loop.time()
        while True:
            now = loop.time()
            speaking = self.mouth.speaking(now)
            due = speaking or now - last_sent >= self.settings.keepalive_s
            if due and now >= self._inject_paused_until:
                await conn.send("InjectParameterDataRequest", {
                    "faceFound": False, "mode": "set", "parameterValues": [
                        {"id": self.settings.mouth_parameter, "value": round(self.mouth.openness(now), 4)},
                        {"id": self.settings.smile_parameter, "value": round(self.smile, 4)}]})
                self.frames_sent += 1
                last_sent = now
            next_at = max(next_at + period, loop.time() - period)  # steady rate; no burst after a stall
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def _on_async_ok(self, request_type: str) -> None:
        """A fire-and-forget injection worked: leave a parameter-conflict error state."""
        if request_type == "InjectParameterDataRequest" and self.state is ModuleState.ERROR:
            self.set_state(ModuleState.ON, f"authenticated at {self.settings.url}")

    def _on_async_error(self, exc: VtsApiError) -> None:
        """Turn an error answer to a fire-and-forget request into a state."""
        loop = asyncio.get_running_loop()
        if exc.error_id == vp.INJECT_CONTROLLED_BY_OTHER_PLUGIN:
            self._inject_paused_until = loop.time() + CONTROL_RETRY_S
            self.set_state(ModuleState.ERROR, f"parameter {self.settings.mouth_parameter} controlled by "
                                              "another plugin - retrying")
        elif exc.error_id == vp.INJECT_PARAM_NOT_FOUND:
            self._inject_paused_until = loop.time() + 30.0
            self.set_state(ModuleState.ERROR, f"parameter not found in the model: {exc.message}")
        elif exc.error_id in (vp.REQUIRES_AUTHENTICATION, vp.API_ACCESS_DEACTIVATED):
            self._fatal = self._error_for(exc)
            if self._conn is not None:
                self.spawn(self._conn.close(), "close")
        else:
            log.warning("vts: %s", exc)

    # --- mood -----------------------------------------------------------------------------

    async def _mood_worker(self, conn: VtsConnection) -> None:
        """Turn mood plans into expression activations and hotkey triggers, reporting failures as notices."""
        while True:
            plan = await self._moods.get()
            try:
                await self._apply_mood(conn, plan)
            except VtsApiError as exc:
                self._notice(f"vts: mood '{plan.mood}': {exc.message or exc} (error {exc.error_id})")
            except TimeoutError:
                self._notice(f"vts: mood '{plan.mood}': VTube Studio did not answer")

    async def _apply_mood(self, conn: VtsConnection, plan: MoodPlan) -> None:
        """Deactivate the previous expression, activate the mood's one, trigger its hotkey."""
        if plan.expression != self.active_expression and self.active_expression:
            old, self.active_expression = self.active_expression, None
            await conn.request("ExpressionActivationRequest",
                               {"expressionFile": old, "fadeTime": 0.3, "active": False})
        if plan.expression and plan.expression != self.active_expression:
            await conn.request("ExpressionActivationRequest",
                               {"expressionFile": plan.expression, "fadeTime": 0.3, "active": True})
            self.active_expression = plan.expression
        if plan.hotkey:
            await conn.request("HotkeyTriggerRequest", {"hotkeyID": plan.hotkey})

    async def trigger_expression(self, expression: str | None = None, hotkey: str | None = None) -> str:
        """Show an expression file and/or press a hotkey now (the control API's /vts/expr); one-line result.

        Raises IntegrationError with the reason when VTube Studio is not connected or refuses.
        """
        conn = self._conn
        if conn is None:
            raise IntegrationError(f"VTube Studio is not connected ({self.reason or self.state.value})")
        done: list[str] = []
        try:
            if expression:
                await self._apply_mood(conn, MoodPlan(mood="api", expression=expression))
                done.append(f"expression {expression}")
            if hotkey:
                await conn.request("HotkeyTriggerRequest", {"hotkeyID": hotkey})
                done.append(f"hotkey {hotkey}")
        except VtsApiError as exc:
            raise IntegrationError(f"VTube Studio refused: {exc.message or exc} (error {exc.error_id})") from exc
        except TimeoutError as exc:
            raise IntegrationError("VTube Studio did not answer") from exc
        return "vts: " + (", ".join(done) or "nothing to do")

    def _notice(self, message: str) -> None:
        """Log a warning and show it to the operator."""
        self.engine.notice("warning", message)

    async def disconnect(self) -> None:
        """Close the socket; the active expression is forgotten (VTS keeps its own state)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.active_expression = None
