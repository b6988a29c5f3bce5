"""Reconnect pacing: exponential backoff with jitter, and a cheap TCP port probe to wait before connecting."""

from __future__ import annotations

import asyncio
import contextlib
import random


class Backoff:
    """Exponential delays (base, 2*base, ... capped at `cap`) with +-`jitter` spread; reset() after success."""

    def __init__(self, base: float = 0.5, cap: float = 15.0, jitter: float = 0.2) -> None:
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempts = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (grows with each call until reset)."""
        raw = min(self.cap, self.base * 2.0 ** min(self.attempts, 64))  # 2.0**1024 would overflow after hours of retries
        self.attempts += 1
        spread = raw * self.jitter
        return max(0.0, raw + random.uniform(-spread, spread))

    def reset(self) -> None:
        """Start again from the base delay (call once connected)."""
        self.attempts = 0

    async def sleep(self) -> float:
        """Sleep for the next delay and return it."""
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay


async def port_open(host: str, port: int, wait_s: float = 0.5) -> bool:
    """True when a TCP connection to host:port succeeds within `wait_s` (the connection is closed at once)."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
