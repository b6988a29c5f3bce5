"""Fixtures for integration tests: an engine double and a polling helper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from .engine_double import EngineDouble


async def wait_until(predicate: Callable[[], bool], within: float = 5.0, step: float = 0.02) -> None:
    """Poll `predicate` until true; fail the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(step)


@pytest.fixture
def engine() -> EngineDouble:
    """A fresh engine double on a real EventBus."""
    return EngineDouble()
