"""The event stream of the control API: a bounded replay buffer and one bounded queue per WebSocket client.

A bus listener encodes each event once; it never waits, so a slow client can only lose its own lossy
events (meters, mouth frames), and a client that falls too far behind is disconnected, never the engine slowed.
"""

from __future__ import annotations

import asyncio
import collections
import json

from kitsu_tui.control.codec import encode_event
from kitsu_tui.engine.bus import EventBus
from kitsu_tui.engine.events import Event, LlmToken, SystemStatsSampled, TranscriptPartial

REPLAY_SIZE = 3000
"""Recent events kept for `?replay=1`."""
CLIENT_QUEUE = 2000
"""Events one client may have waiting; past this it is too slow and is disconnected."""
CLIENT_LOSSY_MAX = 64
"""Once a client has this many events waiting, new lossy events are dropped for it."""
NOT_REPLAYED: tuple[type[Event], ...] = (LlmToken, TranscriptPartial)
"""High-rate events left out of the replay (every lossy event is left out too); LlmFinished holds the text."""


class StreamClient:
    """One WebSocket client's queue of encoded events."""

    def __init__(self, limit: int = CLIENT_QUEUE, lossy_max: int = CLIENT_LOSSY_MAX) -> None:
        self._items: collections.deque[tuple[str, bool]] = collections.deque()
        self._wake = asyncio.Event()
        self._limit = limit
        self._lossy_max = lossy_max
        self.dropped = 0
        """Lossy events this client never got."""
        self.too_slow = False
        """The client fell CLIENT_QUEUE events behind and is being disconnected."""
        self.closed = False

    def push(self, text: str, lossy: bool) -> None:
        """Queue an event; lossy ones drop first when the client is behind; never waits."""
        if self.closed:
            return
        if lossy and len(self._items) >= self._lossy_max:
            self.dropped += 1
            return
        if len(self._items) >= self._limit and not self._drop_one_lossy():
            self.too_slow = True
            self.close()
            return
        self._items.append((text, lossy))
        self._wake.set()

    def _drop_one_lossy(self) -> bool:
        """Make room by dropping the oldest waiting lossy event; False when none waits."""
        for index, (_, lossy) in enumerate(self._items):
            if lossy:
                del self._items[index]
                self.dropped += 1
                return True
        return False

    async def next(self) -> str | None:
        """The next encoded event; None once the client is closed."""
        while not self._items:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        if self.closed and self.too_slow:
            return None
        return self._items.popleft()[0]

    def close(self) -> None:
        """Stop this client's stream: next() returns None."""
        self.closed = True
        self._wake.set()


class EventFeed:
    """Listens to the engine's bus: keeps the replay buffer and fans every event out to the stream clients."""

    def __init__(self, bus: EventBus, replay_size: int = REPLAY_SIZE) -> None:
        self._bus = bus
        self.replay: collections.deque[str] = collections.deque(maxlen=replay_size)
        self.last_sample: str | None = None
        """The newest SystemStatsSampled (lossy, so not in the replay), sent at the end of a replay."""
        self.clients: list[StreamClient] = []

    def start(self) -> None:
        """Begin listening to the bus."""
        self._bus.add_listener(self._on_event)

    def stop(self) -> None:
        """Stop listening and end every client's stream."""
        self._bus.remove_listener(self._on_event)
        for client in list(self.clients):
            client.close()
        self.clients.clear()

    def _on_event(self, event: Event) -> None:
        """Bus listener: encode once, keep for replay when it is worth it, queue for each client."""
        replayed = not event.lossy and not isinstance(event, NOT_REPLAYED)
        sample = isinstance(event, SystemStatsSampled)
        if not (replayed or sample or self.clients):
            return
        text = json.dumps(encode_event(event), ensure_ascii=False)
        if replayed:
            self.replay.append(text)
        elif sample:
            self.last_sample = text
        for client in list(self.clients):
            client.push(text, event.lossy)
            if client.closed:
                self.clients.remove(client)

    def open(self, replay: bool) -> tuple[list[str], StreamClient]:
        """A new client; with `replay`, the events to send first (taken at the same instant: no gap, no repeat)."""
        backlog = list(self.replay) if replay else []
        if replay and self.last_sample is not None:
            backlog.append(self.last_sample)
        client = StreamClient()
        self.clients.append(client)
        return backlog, client

    def close(self, client: StreamClient) -> None:
        """Forget a client (its WebSocket closed)."""
        client.close()
        if client in self.clients:
            self.clients.remove(client)
