"""The SPSC playback ring buffer: order, wrap-around, growth, clear, and a real producer/consumer thread pair."""

from __future__ import annotations

import threading

import numpy as np

from kitsu_tui.audio.ringbuffer import RingBuffer


def test_fifo_order_across_wraparound() -> None:
    """Interleaved writes and reads come out in order, with silence after the end."""
    ring = RingBuffer(capacity=1024)
    out = np.empty(300, dtype=np.float32)
    produced = np.arange(5000, dtype=np.float32)
    got: list[np.ndarray] = []
    pos = 0
    while pos < produced.size:
        pos += ring.write(produced[pos : pos + 250])
        taken = ring.read_into(out)
        got.append(out[:taken].copy())
    while ring.available:
        got.append(out[: ring.read_into(out)].copy())
    assert np.array_equal(np.concatenate(got), produced)
    assert ring.capacity == 1024  # never needed to grow
    assert ring.read_into(out) == 0 and not out.any()
    assert ring.total_read == 5000


def test_write_never_blocks_and_grows_keeping_unread_data() -> None:
    """A write far larger than capacity grows the buffer; unread samples before it stay intact."""
    ring = RingBuffer(capacity=1024)
    ring.write(np.arange(1000, dtype=np.float32))
    out = np.empty(900, dtype=np.float32)
    ring.read_into(out)  # read position is now mid-buffer, so growth must un-wrap correctly
    ring.write(np.arange(1000, 11000, dtype=np.float32))
    assert ring.capacity >= 10100
    assert ring.available == 10100
    rest = np.empty(20000, dtype=np.float32)
    assert ring.read_into(rest) == 10100
    assert np.array_equal(rest[:10100], np.arange(900, 11000, dtype=np.float32))
    assert not rest[10100:].any()


def test_max_capacity_drops_and_counts_overflow() -> None:
    """Past max_capacity the excess is dropped (counted), never blocking the writer."""
    ring = RingBuffer(capacity=1024, max_capacity=2048)
    assert ring.write(np.ones(3000, dtype=np.float32)) == 2048
    assert ring.overflowed == 952


def test_clear_drops_unplayed_audio_on_next_read() -> None:
    """clear() returns what it dropped; the reader skips it and plays only audio written afterwards."""
    ring = RingBuffer(capacity=4096)
    ring.write(np.ones(3000, dtype=np.float32))
    out = np.empty(500, dtype=np.float32)
    ring.read_into(out)
    assert ring.clear() == 2500
    assert ring.available == 0
    ring.write(np.full(100, 2.0, dtype=np.float32))
    assert ring.read_into(out) == 100
    assert np.all(out[:100] == 2.0) and not out[100:].any()
    assert ring.total_read == 600


def test_concurrent_producer_and_consumer_threads_lose_nothing() -> None:
    """A writer thread (with growth) and a reader thread running at once deliver every sample in order."""
    ring = RingBuffer(capacity=1024)
    total = 200_000
    received: list[np.ndarray] = []
    done = threading.Event()

    def consume() -> None:
        out = np.empty(441, dtype=np.float32)
        count = 0
        while count < total:
            taken = ring.read_into(out)
            if taken:
                received.append(out[:taken].copy())
                count += taken
        done.set()

    reader = threading.Thread(target=consume)
    reader.start()
    data = np.arange(total, dtype=np.float32)
    for start in range(0, total, 3331):
        ring.write(data[start : start + 3331])
    assert done.wait(10)
    reader.join()
    assert np.array_equal(np.concatenate(received), data)
