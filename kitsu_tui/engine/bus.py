"""Fan-out of engine events to subscribers with bounded queues where only lossy events may drop."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator, Callable

from kitsu_tui.engine.events import Event

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


class Subscription:
    """One consumer's view of the event stream: an async iterator with its own buffer."""

    def __init__(self, bus: EventBus, max_lossy: int, name: str) -> None:
        self._bus = bus
        self._events: collections.deque[Event] = collections.deque()
        self._max_lossy = max_lossy
        self._waiter: asyncio.Event = asyncio.Event()
        self.name = name
        self.dropped = 0
        self.closed = False

    def push(self, event: Event) -> None:
        """Queue an event; a lossy one is dropped when the buffer already holds max_lossy items."""
        if event.lossy and len(self._events) >= self._max_lossy:
            self.dropped += 1
            return
        self._events.append(event)
        self._waiter.set()

    async def get(self) -> Event:
        """Wait for the next event."""
        while not self._events:
            if self.closed:
                raise StopAsyncIteration
            self._waiter.clear()
            await self._waiter.wait()
        return self._events.popleft()

    def get_nowait(self) -> Event | None:
        """The next event or None."""
        return self._events.popleft() if self._events else None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        """Stop receiving; a pending get() ends the iteration."""
        self.closed = True
        self._waiter.set()
        self._bus.unsubscribe(self)


class EventBus:
    """Delivers every emitted event to sync listeners (in order, same task) and async subscribers."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._subscriptions: list[Subscription] = []

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(event)` synchronously for each event; it must be fast and never block."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling a listener."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def subscribe(self, name: str = "", max_lossy: int = 64) -> Subscription:
        """A new subscription; lossy events drop once its backlog reaches max_lossy."""
        sub = Subscription(self, max_lossy, name)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscription."""
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def emit(self, event: Event) -> None:
        """Deliver an event; a failing listener is logged and never breaks the emitter."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, event.kind)
        for sub in list(self._subscriptions):
            sub.push(event)
