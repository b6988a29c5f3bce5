"""ModelWorker streams: items arrive in order, errors reach the consumer, and a slow consumer holds the thread back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator

import pytest

from kitsu_tui.backends import worker as worker_module
from kitsu_tui.backends.worker import ModelWorker


async def test_stream_yields_in_order_and_raises_thread_errors() -> None:
    worker = ModelWorker("test")

    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("boom")

    seen: list[int] = []
    with pytest.raises(ValueError, match="boom"):
        async for item in worker.stream(failing):
            seen.append(item)
    assert seen == [1, 2]
    assert await worker.close()


async def test_stream_is_bounded_and_stops_when_the_consumer_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STREAM_BUFFER", 4)
    worker = ModelWorker("test")
    produced = 0
    closed = threading.Event()

    def endless() -> Iterator[int]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield produced
        finally:
            closed.set()

    stream = worker.stream(endless)
    assert await anext(stream) == 1
    await asyncio.sleep(0.2)  # time for the thread to run ahead as far as the bound lets it
    assert produced <= 1 + 4 + 1
    assert isinstance(stream, AsyncGenerator)  # stream() is an async generator: aclose() ends it early
    await stream.aclose()
    assert await worker.close()
    assert closed.is_set()
