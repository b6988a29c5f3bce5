"""Twitch chat over EventSub (twitchio 3): chat lines become paced kitsu chat turns; mods can run commands."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from typing import TYPE_CHECKING, Any

import twitchio
from twitchio.eventsub import ChatMessageSubscription

from kitsu_tui.config.settings import TwitchSettings, secret_from
from kitsu_tui.engine.bus import Subscription
from kitsu_tui.engine.events import (
    ModuleState,
    ModuleStateChanged,
    PipelineState,
    PipelineStateChanged,
    Source,
)
from kitsu_tui.integrations.base import IntegrationError, IntegrationModule, StopRetrying
from kitsu_tui.integrations.chat import ChatLine, from_twitchio
from kitsu_tui.integrations.chat_commands import (
    CommandResult,
    CommandRunner,
    SceneSwitcher,
    SceneSwitching,
    parse_command,
)
from kitsu_tui.integrations.chat_queue import ChatQueue, Verdict

if TYPE_CHECKING:
    from kitsu_tui.safety.moderator import Decision

log = logging.getLogger(__name__)

#: Pipeline states in which a chat message waits instead of starting a turn.
HOLD_STATES = frozenset({PipelineState.THINKING, PipelineState.SPEAKING, PipelineState.PANIC,
                         PipelineState.PAUSED, PipelineState.LOADING, PipelineState.STOPPED})


class KitsuTwitchClient(twitchio.Client):
    """A twitchio client that hands every EventSub chat message to the Twitch module as kitsu's ChatLine."""

    def __init__(self, module: TwitchModule, **options: Any) -> None:
        super().__init__(**options)
        self._kitsu_module = module

    async def event_message(self, payload: twitchio.ChatMessage) -> None:
        """channel.chat.message notification (twitchio's parsing path) -> kitsu."""
        self._kitsu_module.receive(from_twitchio(payload))

    async def event_websocket_closed(self, payload: Any = None) -> None:
        """An EventSub socket closed: after a session_reconnect another one is live; else reconnect from scratch."""
        closed = getattr(payload, "socket", None)
        live = [socket for sockets in self._websockets.values() for socket in sockets.values()
                if socket is not closed and socket.connected]
        if live:
            log.info("twitch: EventSub moved to a new connection")
            return
        self._kitsu_module.connection_lost.set()

    async def event_subscription_revoked(self, payload: Any = None) -> None:
        """Twitch revoked the chat subscription (token revoked, user removed): log in and subscribe again."""
        log.warning("twitch: subscription revoked (%s)", getattr(payload, "status", "unknown reason"))
        self._kitsu_module.connection_lost.set()


def point_twitchio_at(settings: TwitchSettings) -> None:
    """Send twitchio's Helix, OAuth and EventSub traffic to the configured addresses (Twitch by default)."""
    from twitchio.eventsub import websockets as eventsub_websockets
    from twitchio.http import Route

    Route.BASE = settings.api_base.rstrip("/") + "/"
    Route.ID_BASE = settings.auth_base.rstrip("/") + "/"
    eventsub_websockets.WSS = settings.eventsub_url


class TwitchModule(IntegrationModule):
    """Reads chat, filters and paces it through a ChatQueue into engine.submit_text, runs mod commands."""

    name = "twitch"

    def __init__(self, settings: TwitchSettings, scene_switcher: SceneSwitcher | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.queue = ChatQueue(settings)
        self.module_states: dict[str, str] = {}
        self.pipeline_state: PipelineState | None = None
        self.scene_switcher = scene_switcher
        self.connection_lost = asyncio.Event()
        self.submitted = 0
        self._wake = asyncio.Event()
        self._client: KitsuTwitchClient | None = None
        self._subscription: Subscription | None = None
        self._decisions: dict[tuple[str, float], Decision] = {}
        """The engine's moderation decision for each queued line, handed to submit_text so it is made once."""

    def target(self) -> str:
        """The channel."""
        return f"twitch #{self._env('KITSU_TWITCH_CHANNEL', self.settings.channel) or '?'}"

    @staticmethod
    def _env(name: str, configured: str) -> str:
        """An environment variable's value, else the configured one."""
        return os.environ.get(name, "") or configured

    def on_start(self) -> None:
        """Follow engine state (for pacing and !toggle) and start releasing queued chat."""
        self._subscription = self.engine.bus.subscribe("twitch", max_lossy=4)
        self.spawn(self._follow(self._subscription), "events")
        self.spawn(self._release_loop(), "pacer")

    def on_stop(self) -> None:
        """Stop following the engine."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def _follow(self, subscription: Subscription) -> None:
        """Track module and pipeline states from the engine's events."""
        async for event in subscription:
            if isinstance(event, ModuleStateChanged):
                self.module_states[event.module] = event.state.value
            elif isinstance(event, PipelineStateChanged):
                self.pipeline_state = event.state
                self._wake.set()

    # --- chat in ----------------------------------------------------------------------------

    def receive(self, message: ChatLine) -> None:
        """Take one chat line from any source (twitchio, tests) without blocking."""
        self.spawn(self.handle(message), "message")

    async def handle(self, message: ChatLine) -> Verdict | CommandResult:
        """Run a command, or moderate and queue a chat line; returns what happened."""
        command = parse_command(message.text, self.settings.command_prefix)
        if command is not None:
            runner = CommandRunner(self.engine, self.scene_switcher or self._obs_switcher(), self.module_states)
            return await runner.run(message, *command)
        decision = self._moderate(message)
        if decision is not None and not decision.allowed:
            verdict = Verdict(False, f"moderation: {decision.rule or decision.action}")
        else:
            if decision is not None:
                message = dataclasses.replace(message, text=decision.text)
            verdict = self.queue.offer(message)
        if verdict.accepted:
            if decision is not None:
                self._forget_stale_decisions()
                self._decisions[_message_key(message)] = decision
            self._wake.set()
        else:
            log.debug("twitch: not queued from %s: %s", message.login, verdict.reason)
        return verdict

    def _obs_switcher(self) -> SceneSwitcher | None:
        """The OBS module's switch_scene when the engine has one registered."""
        obs = self.engine.modules.get("obs")
        return obs.switch_scene if isinstance(obs, SceneSwitching) else None

    def _moderate(self, message: ChatLine) -> Decision | None:
        """The engine's one moderation decision for a line, made before queueing so blocked lines take no slot."""
        try:
            return self.engine.moderate_input(message.text, Source.CHAT, message.author)
        except Exception:
            log.exception("twitch: moderation failed; the engine will moderate at submit")
            return None

    def _forget_stale_decisions(self) -> None:
        """Drop decisions of lines the queue has let go stale (they are never released)."""
        horizon = self.queue.clock() - self.settings.max_age_s - 1.0
        for key in [key for key in self._decisions if key[1] < horizon]:
            del self._decisions[key]

    async def _release_loop(self) -> None:
        """Submit the best queued message when pacing allows and the engine is not busy."""
        while True:
            message = None
            if self.pipeline_state not in HOLD_STATES:
                message = self.queue.pop_ready()
            if message is not None:
                decision = self._decisions.pop(_message_key(message), None)
                if self.engine.submit_text(message.text, Source.CHAT, message.author, decision=decision,
                                           origin="twitch"):
                    self.submitted += 1
                continue
            self._wake.clear()
            pause = 0.1 if len(self.queue) else 5.0
            if len(self.queue) and self.pipeline_state not in HOLD_STATES:
                pause = max(0.05, self.queue.wait_s())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    # --- connection ---------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        """Channel, ids and secrets from env (KITSU_TWITCH_*) or config; values are never logged."""
        cfg = self.settings
        return {
            "KITSU_TWITCH_CHANNEL": self._env("KITSU_TWITCH_CHANNEL", cfg.channel),
            "KITSU_TWITCH_BOT_ID": self._env("KITSU_TWITCH_BOT_ID", cfg.bot_id),
            "KITSU_TWITCH_CLIENT_ID": self._env("KITSU_TWITCH_CLIENT_ID", cfg.client_id),
            "KITSU_TWITCH_CLIENT_SECRET": secret_from("KITSU_TWITCH_CLIENT_SECRET", cfg.client_secret),
            "KITSU_TWITCH_ACCESS_TOKEN": secret_from("KITSU_TWITCH_ACCESS_TOKEN", cfg.access_token),
            "KITSU_TWITCH_REFRESH_TOKEN": secret_from("KITSU_TWITCH_REFRESH_TOKEN", cfg.refresh_token),
        }

    async def session(self) -> None:
        """Log in, subscribe to channel.chat.message over EventSub, and wait until the socket is lost."""
        creds = self.credentials()
        missing = [name for name, value in creds.items() if not value]
        if missing:
            raise StopRetrying(f"Twitch needs {', '.join(missing)} (environment or [twitch] in kitsu.toml)")
        channel, bot_id = creds["KITSU_TWITCH_CHANNEL"], creds["KITSU_TWITCH_BOT_ID"]
        self.connection_lost.clear()
        point_twitchio_at(self.settings)
        client = self._client = KitsuTwitchClient(
            self, client_id=creds["KITSU_TWITCH_CLIENT_ID"], client_secret=creds["KITSU_TWITCH_CLIENT_SECRET"],
            bot_id=bot_id, fetch_client_user=False)
        try:
            await client.login(load_tokens=False, save_tokens=False)
            await client.add_token(creds["KITSU_TWITCH_ACCESS_TOKEN"], creds["KITSU_TWITCH_REFRESH_TOKEN"])
            broadcaster_id = self.settings.broadcaster_id
            if not broadcaster_id:
                users = await client.fetch_users(logins=[channel])
                if not users:
                    raise StopRetrying(f"Twitch channel '{channel}' not found: check [twitch] channel")
                broadcaster_id = str(users[0].id)
            subscription = ChatMessageSubscription(broadcaster_user_id=broadcaster_id, user_id=bot_id)
            await client.subscribe_websocket(subscription, token_for=bot_id)
        except IntegrationError:
            raise
        except twitchio.HTTPException as exc:
            raise IntegrationError(f"Twitch refused the login (HTTP {exc.status}): check client id and tokens") from exc
        except (OSError, TimeoutError, twitchio.TwitchioException) as exc:
            raise IntegrationError(f"Twitch unreachable ({type(exc).__name__})") from exc
        self.set_state(ModuleState.ON, f"#{channel}")
        await self.connection_lost.wait()
        raise IntegrationError(f"Twitch chat connection to #{channel} closed")

    async def disconnect(self) -> None:
        """Close the twitchio client (its sockets and HTTP session)."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:
                log.exception("twitch: close failed")


def _message_key(message: ChatLine) -> tuple[str, float]:
    """Who sent a line and when it arrived: survives the queue's length cap (which copies the message)."""
    return message.user_id or message.login, message.received
