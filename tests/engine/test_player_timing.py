"""A segment's start time is never dated before its audio was written, however coarse the device's counter."""

from __future__ import annotations

import asyncio

import numpy as np

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.engine.events import Event
from kitsu_tui.engine.player import Player


async def test_started_at_is_not_before_the_audio_was_written() -> None:
    """A device that plays 200 ms blocks at once still gives a start no earlier than the write (no negative latency)."""
    events: list[Event] = []
    output = NullOutput(sample_rate=16000, block_ms=200)
    player = Player(output, events.append)
    player.start()
    try:
        starts = []
        for index in range(3):
            await asyncio.sleep(0.07 * index)  # land at different points inside the device's block
            segment = player.enqueue(1, index, "Hello there.", np.full(1600, 0.1, dtype=np.float32), 16000)
            await asyncio.wait_for(segment.done, 5)
            assert segment.started and segment.placed_at > 0
            assert segment.started_at >= segment.placed_at
            starts.append(segment.started_at - segment.placed_at)
        assert all(0 <= gap < 1.0 for gap in starts)
        assert [e.kind for e in events].count("PlaybackStarted") == 3
    finally:
        await player.close()
