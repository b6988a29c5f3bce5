"""WS /stream: live events in order, replay on reconnect ending with the marker, slow clients never block the engine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from kitsu_tui.control.codec import REPLAY_DONE, decode_event
from kitsu_tui.control.stream import EventFeed, StreamClient
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import LlmToken, MicLevel, MouthUpdated, Notice, TurnCompleted, TurnStarted

from .conftest import Show

TURN_ORDER = ["TurnStarted", "LlmStarted", "LlmFinished", "PlaybackStarted", "PlaybackFinished", "TurnCompleted"]


async def read_until(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 10.0) -> list[dict[str, Any]]:
    """Messages up to and including the first of `kind`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            seen.append(json.loads(message.data))
            if seen[-1]["kind"] == kind:
                return seen


def in_order(kinds: list[str], wanted: list[str]) -> bool:
    """`wanted` appears in `kinds` as a subsequence."""
    it = iter(kinds)
    return all(kind in it for kind in wanted)


async def test_chat_turn_streams_in_order_and_replays_on_reconnect(show: Show) -> None:
    async with show.http.ws_connect(show.url + "/stream", headers=show.auth) as ws:
        status, reply = await show.post("/chat", {"text": "hello kitsu", "author": "viewer"})
        assert reply["accepted"] is True
        live = await read_until(ws, "TurnCompleted")
    turn = [m for m in live if m.get("turn_id") == reply["turn"]]
    kinds = [m["kind"] for m in turn]
    assert in_order(kinds, TURN_ORDER), kinds
    started = decode_event(next(m for m in turn if m["kind"] == "TurnStarted"))
    assert isinstance(started, TurnStarted) and started.text == "hello kitsu" and started.author == "viewer"
    completed = decode_event(turn[-1])
    assert isinstance(completed, TurnCompleted) and completed.record["spoken"].startswith("Reply")
    assert all(decode_event(m) is not None for m in live)  # everything on the wire decodes back

    async with show.http.ws_connect(show.url + "/stream?replay=1", headers=show.auth) as ws:
        replayed = await read_until(ws, REPLAY_DONE)
        replay_kinds = [m["kind"] for m in replayed if m.get("turn_id") == reply["turn"]]
        assert in_order(replay_kinds, TURN_ORDER), replay_kinds
        assert not {"MouthUpdated", "MicLevel", "LlmToken"} & {m["kind"] for m in replayed}
        assert replayed[-1] == {"kind": REPLAY_DONE}
        await show.post("/say", {"text": "After the replay."})  # live events follow the marker
        after = await read_until(ws, "TurnCompleted")
        assert after[-1]["record"]["spoken"] == "After the replay."


async def test_without_replay_only_live_events(show: Show) -> None:
    show.engine.notice("info", "before the client")
    async with show.http.ws_connect(show.url + "/stream", params={"token": show.token}) as ws:
        show.engine.notice("info", "after the client")
        first = await read_until(ws, "Notice")
    assert first[-1]["message"] == "after the client"


async def test_server_close_ends_the_stream(show: Show) -> None:
    async with show.http.ws_connect(show.url + "/stream", headers=show.auth) as ws:
        await show.server.close()
        async with asyncio.timeout(5):
            message = await ws.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_slow_client_loses_lossy_events_first_and_is_cut_when_far_behind() -> None:
    client = StreamClient(limit=10, lossy_max=4)
    for index in range(3):
        client.push(f"mouth{index}", lossy=True)
    client.push("notice0", lossy=False)
    client.push("mouth-dropped", lossy=True)  # 4 waiting: lossy events drop now
    assert client.dropped == 1
    for index in range(6):
        client.push(f"notice{index + 1}", lossy=False)  # 10 waiting
    client.push("notice7", lossy=False)  # full: the oldest lossy one makes room
    assert client.dropped == 2 and not client.closed
    for index in range(8, 12):
        client.push(f"notice{index}", lossy=False)  # no lossy left to drop: the client is cut
    assert client.too_slow and client.closed


async def test_feed_listener_never_waits_for_a_client_that_does_not_read() -> None:
    bus = EventBus()
    feed = EventFeed(bus, replay_size=5)
    feed.start()
    _, client = feed.open(replay=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(5000):
        bus.emit(MouthUpdated(value=index / 5000))
        bus.emit(MicLevel(rms=0.1))
        bus.emit(LlmToken(text="x"))
    assert loop.time() - started < 2.0
    assert client.too_slow and feed.clients == []  # cut off, the engine went on
    bus.emit(Notice(level="info", message="n"))
    assert len(feed.replay) == 1  # lossy and token events are not replayed; the buffer is bounded
    for index in range(10):
        bus.emit(Notice(level="info", message=str(index)))
    assert len(feed.replay) == 5 and json.loads(feed.replay[-1])["message"] == "9"
    assert client.dropped > 0
    feed.stop()
