"""Twitch module: documented EventSub payloads through twitchio's real parsing path into kitsu's chat events."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypedDict

import pytest
from pydantic import SecretStr
from twitchio.models.eventsub_ import create_event_instance

from kitsu_tui.config.settings import TwitchSettings
from kitsu_tui.engine.events import (
    ModuleState,
    ModuleStateChanged,
    PipelineState,
    PipelineStateChanged,
    Source,
)
from kitsu_tui.integrations.chat import ChatLine
from kitsu_tui.integrations.chat_commands import CommandResult
from kitsu_tui.integrations.twitch import KitsuTwitchClient, TwitchModule

from .conftest import wait_until
from .engine_double import EngineDouble

BROADCASTER = ("kitsu", "1001")


def dispatch(client: KitsuTwitchClient, payload: dict[str, Any]) -> Any:
    """Parse a notification with twitchio and dispatch it the way its EventSub websocket does."""
    message = create_event_instance("channel.chat.message", payload, http=client._http)
    client.dispatch("message", message)
    return message


@pytest.fixture
async def twitch_client() -> Any:
    """Factory of twitchio clients bound to a module (closed after the test)."""
    clients: list[KitsuTwitchClient] = []

    def make(module: TwitchModule) -> KitsuTwitchClient:
        client = KitsuTwitchClient(module, client_id="test", client_secret="test", bot_id="2002")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


class Chatter(TypedDict):
    """Who sends a chat_notification()."""

    login: str
    user_id: str
    badges: tuple[str, ...]


def settings(**overrides: Any) -> TwitchSettings:
    """Fast pacing for tests."""
    return TwitchSettings(**{"reply_interval_s": 0.0, "user_cooldown_s": 0.0, **overrides})


async def test_eventsub_payload_becomes_a_chat_turn(engine: EngineDouble, twitch_client: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """channel.chat.message -> twitchio.ChatMessage -> kitsu ChatLine -> queue -> engine.submit_text."""
    from .twitch_payloads import NOTIFICATION

    for var in ("CHANNEL", "BOT_ID", "CLIENT_ID", "CLIENT_SECRET", "ACCESS_TOKEN", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"KITSU_TWITCH_{var}", raising=False)
    module = TwitchModule(settings())
    seen: list[ChatLine] = []
    original = module.receive

    def spy(message: ChatLine) -> None:
        seen.append(message)
        original(message)

    monkeypatch.setattr(module, "receive", spy)
    await module.start(engine)
    try:
        parsed = dispatch(twitch_client(module), NOTIFICATION)
        await wait_until(lambda: engine.submitted == [("hello kitsu!", Source.CHAT, "Viewer1")])
        assert type(parsed).__name__ == "ChatMessage" and parsed.chatter.name == "viewer1"
        assert seen[0].badges == frozenset({"subscriber"}) and seen[0].user_id == "3003"
        assert not seen[0].is_mod
        # without credentials the connection itself is a clear, final error
        assert module.state is ModuleState.ERROR
        assert module.reason.startswith("Twitch needs KITSU_TWITCH_CHANNEL")
    finally:
        await module.stop()


async def test_mod_commands_and_ignored_commands(engine: EngineDouble, twitch_client: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Mods and the broadcaster run commands; a viewer's commands are ignored and logged; none reach the queue."""
    from .twitch_payloads import chat_notification

    caplog.set_level(logging.INFO)
    scenes: list[str] = []

    async def switch(scene: str) -> str:
        scenes.append(scene)
        return f"OBS scene -> {scene}"

    module = TwitchModule(settings(), scene_switcher=switch)
    await module.start(engine)
    client = twitch_client(module)
    engine.bus.emit(ModuleStateChanged(module="obs", state=ModuleState.ON))
    await asyncio.sleep(0.05)
    mod: Chatter = {"login": "moddy", "user_id": "4004", "badges": ("moderator",)}
    owner: Chatter = {"login": BROADCASTER[0], "user_id": BROADCASTER[1], "badges": ()}
    lines: list[tuple[Chatter, str]] = [(mod, "!mute"), (mod, "!unmute"), (mod, "!skip"), (owner, "!panic"), (owner, "!unpanic"),
             (owner, "!scene Just Chatting"), (mod, "!toggle vts off"), (mod, "!toggle obs"),
             (mod, "!persona luna"), (mod, "!dance"),
             ({"login": "viewer9", "user_id": "9009", "badges": ("subscriber", "vip")}, "!skip")]
    try:
        for i, (who, text) in enumerate(lines):
            dispatch(client, chat_notification(text, message_id=f"m{i}", **who))
            await asyncio.sleep(0.02)
        await wait_until(lambda: len(engine.calls) >= 8)
        await asyncio.sleep(0.2)
    finally:
        await module.stop()
    assert engine.calls == [("set_muted", True), ("set_muted", False), ("skip",), ("panic",), ("clear_panic",),
                            ("toggle_module", "vts", False), ("toggle_module", "obs", False),
                            ("switch_persona", "luna")]
    assert scenes == ["Just Chatting"]
    assert engine.submitted == []
    assert "ignored !skip from viewer9" in caplog.text
    assert "ignored unknown command !dance from moddy" in caplog.text


async def test_pacing_waits_for_the_engine_and_the_interval(engine: EngineDouble) -> None:
    """Nothing is released while kitsu speaks; afterwards one message per reply interval, best badge first."""
    module = TwitchModule(settings(reply_interval_s=0.3))
    await module.start(engine)
    try:
        engine.bus.emit(PipelineStateChanged(state=PipelineState.SPEAKING))
        await asyncio.sleep(0.05)
        for login, text, badges in (("a", "first plain question", ()), ("b", "second plain question", ()),
                                    ("c", "a subscriber asks", ("subscriber",))):
            await module.handle(ChatLine(text=text, login=login, badges=frozenset(badges)))
        await asyncio.sleep(0.4)
        assert engine.submitted == []
        t0 = time.monotonic()
        engine.bus.emit(PipelineStateChanged(state=PipelineState.LISTENING))
        await wait_until(lambda: len(engine.submitted) == 3, within=3)
        elapsed = time.monotonic() - t0
    finally:
        await module.stop()
    assert [text for text, _, _ in engine.submitted] == ["a subscriber asks", "first plain question",
                                                          "second plain question"]
    assert elapsed >= 0.55  # two intervals between three releases


async def test_no_network_start_is_instant_and_secrets_stay_out(engine: EngineDouble,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """With credentials but no route to Twitch, start() returns at once; the error names no secret."""
    caplog.set_level(logging.DEBUG)
    secret, token = "sekrit-client-secret-xyz", "oauth-access-token-abc"
    module = TwitchModule(settings(channel="kitsu", bot_id="2002", client_id="cid",
                                   client_secret=SecretStr(secret), access_token=SecretStr(token),
                                   refresh_token=SecretStr("refresh-token-def")))
    t = time.perf_counter()
    await module.start(engine)
    assert time.perf_counter() - t < 0.05
    try:
        await wait_until(lambda: module.state is ModuleState.ERROR, within=30)
        assert module.reason.startswith("Twitch unreachable"), module.reason
    finally:
        await module.stop()
    for value in (secret, token, "refresh-token-def"):
        assert value not in module.reason and value not in caplog.text and value not in repr(module.settings)


async def test_reconnects_when_twitchio_gives_up_its_socket(engine: EngineDouble,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Helix/EventSub network calls answered locally: ON, then a dropped socket leads to a fresh login."""
    logins: list[KitsuTwitchClient] = []
    subscribed: list[dict[str, str]] = []

    async def login(self: KitsuTwitchClient, **_: Any) -> None:
        logins.append(self)

    async def add_token(self: KitsuTwitchClient, token: str, refresh: str) -> None:
        assert (token, refresh) == ("tok", "ref")

    async def subscribe_websocket(self: KitsuTwitchClient, payload: Any, **_: Any) -> None:
        subscribed.append(dict(payload.condition))

    monkeypatch.setattr(KitsuTwitchClient, "login", login)
    monkeypatch.setattr(KitsuTwitchClient, "add_token", add_token)
    monkeypatch.setattr(KitsuTwitchClient, "subscribe_websocket", subscribe_websocket)
    module = TwitchModule(settings(channel="kitsu", broadcaster_id="1001", bot_id="2002", client_id="cid",
                                   client_secret=SecretStr("s"), access_token=SecretStr("tok"),
                                   refresh_token=SecretStr("ref")))
    module._backoff.base = 0.05
    await module.start(engine)
    try:
        await wait_until(lambda: module.state is ModuleState.ON)
        assert module.reason == "#kitsu"
        assert subscribed == [{"broadcaster_user_id": "1001", "user_id": "2002"}]
        logins[0].dispatch("websocket_closed", None)
        await wait_until(lambda: len(logins) == 2 and module.state is ModuleState.ON)
        assert ("twitch", ModuleState.ERROR, "Twitch chat connection to #kitsu closed - retrying") in engine.states
        assert len(subscribed) == 2
    finally:
        await module.stop()


async def test_scene_command_finds_the_registered_obs_module(engine: EngineDouble) -> None:
    """Without a wired scene switcher, !scene goes to the OBS module registered with the engine."""
    from kitsu_tui.config.settings import ObsSettings
    from kitsu_tui.integrations.obs import ObsModule

    module = TwitchModule(settings())
    await module.start(engine)
    try:
        owner = ChatLine(text="!scene BRB", login=BROADCASTER[0], user_id=BROADCASTER[1], badges=frozenset({"broadcaster"}))
        missing = await module.handle(owner)
        assert missing == CommandResult(False, f"!scene from {BROADCASTER[0]} failed: OBS module is not available")
        engine.register_module(ObsModule(ObsSettings()))
        offline = await module.handle(owner)
        assert isinstance(offline, CommandResult) and not offline.ran and "OBS is not connected" in offline.detail
    finally:
        await module.stop()
