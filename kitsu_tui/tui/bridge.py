"""Engine events -> Textual messages: one consumer task, tokens batched and meters coalesced to ~30 Hz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from textual.message import Message

from kitsu_tui.engine.bus import EventBus, Subscription
from kitsu_tui.engine.events import Event, LlmToken, MouthUpdated

log = logging.getLogger(__name__)


class EngineEvents(Message):
    """A coalesced batch of engine events, posted at most `rate_hz` times a second."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


def coalesce(events: list[Event]) -> list[Event]:
    """Merge runs of LLM tokens of a turn into one, keep only the newest of each lossy kind, drop mouth frames."""
    merged: list[Event] = []
    newest_lossy: dict[str, Event] = {}
    for event in events:
        if isinstance(event, MouthUpdated):
            continue  # the avatar wants these, the console does not
        if event.lossy:
            newest_lossy[event.kind] = event
            continue
        last = merged[-1] if merged else None
        if isinstance(event, LlmToken) and isinstance(last, LlmToken) and last.turn_id == event.turn_id:
            merged[-1] = LlmToken(text=last.text + event.text, turn_id=event.turn_id, ts=last.ts)
            continue
        merged.append(event)
    merged.extend(newest_lossy.values())
    return merged


class EngineBridge:
    """Reads the engine bus on the UI loop and posts `EngineEvents` batches; never touches widgets."""

    def __init__(self, bus: EventBus, post: Callable[[Message], object], rate_hz: float = 30.0) -> None:
        self.bus = bus
        self.post = post
        self.interval_s = 1.0 / rate_hz
        self.batches = 0
        self.events_in = 0
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Subscribe and start the single consumer task."""
        self._subscription = self.bus.subscribe("tui", max_lossy=64)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kitsu-tui-bridge")

    async def _run(self) -> None:
        assert self._subscription is not None
        sub = self._subscription
        last_flush = 0.0
        while True:
            try:
                first = await sub.get()
            except StopAsyncIteration:
                return
            batch = [first]
            wait = last_flush + self.interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # let a frame's worth of events gather
            while (event := sub.get_nowait()) is not None:
                batch.append(event)
            last_flush = time.monotonic()
            self.events_in += len(batch)
            self.batches += 1
            try:
                self.post(EngineEvents(coalesce(batch)))
            except Exception:
                log.exception("posting engine events to the console failed")

    async def stop(self) -> None:
        """Unsubscribe and end the consumer task."""
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
