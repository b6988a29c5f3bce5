"""Shared lifecycle of stream integrations: non-blocking start, a supervised connect loop with backoff, states."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from kitsu_tui.engine.api import EngineApi
from kitsu_tui.engine.events import ModuleState
from kitsu_tui.integrations.backoff import Backoff

log = logging.getLogger(__name__)


class IntegrationError(Exception):
    """A connection attempt or session failed for a reason worth showing; the loop retries."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class StopRetrying(IntegrationError):
    """A failure that retrying cannot fix (user denied access): stay in error until toggled."""


class IntegrationModule(abc.ABC):
    """Base of OBS/VTS/VMC/Twitch modules: start() returns at once and a task connects, retries and reports."""

    name: str = "integration"

    def __init__(self, backoff: Backoff | None = None) -> None:
        self._engine: EngineApi | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._backoff = backoff or Backoff()
        self.state: ModuleState = ModuleState.OFF
        self.reason = ""
        self._reached_on = False
        self._connect_task: asyncio.Task[Any] | None = None

    @property
    def engine(self) -> EngineApi:
        """The engine this module was started with."""
        if self._engine is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._engine

    @property
    def running(self) -> bool:
        """Whether start() ran and stop() has not."""
        return bool(self._tasks)

    def set_state(self, state: ModuleState, reason: str = "") -> None:
        """Report a state change to the engine (repeats of the same state and reason are not re-sent)."""
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        if state is ModuleState.ON:
            self._reached_on = True
        log.info("%s: %s%s", self.name, state.value, f" ({reason})" if reason else "")
        if self._engine is not None:
            try:
                self._engine.set_module_state(self.name, state, reason)
            except Exception:
                log.exception("%s: engine.set_module_state failed", self.name)

    def spawn(self, coro: Coroutine[Any, Any, Any], label: str) -> asyncio.Task[Any]:
        """Run a background task owned by this module; a crash is logged and shown, never raised."""
        task = asyncio.create_task(coro, name=f"{self.name}:{label}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """Forget a finished task and turn a crash into an error state."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: task %s crashed: %r", self.name, task.get_name(), exc)
            self.set_state(ModuleState.ERROR, f"internal error: {type(exc).__name__}: {exc}")

    async def start(self, engine: EngineApi) -> None:
        """Begin connecting in the background and return immediately (a module that gave up starts afresh)."""
        if self._connect_task is not None and not self._connect_task.done():
            return
        if self.running:
            await self.stop()
        self._engine = engine
        self._backoff.reset()
        self._reached_on = False
        self.on_start()
        self._connect_task = self.spawn(self._supervise(), "connect")

    async def stop(self) -> None:
        """Cancel every task, close the connection and report `off`."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        try:
            await self.disconnect()
        except Exception:
            log.exception("%s: disconnect failed", self.name)
        self.on_stop()
        self.set_state(ModuleState.OFF)

    async def _supervise(self) -> None:
        """Connect, run the session until it ends, then retry with backoff; StopRetrying ends the loop."""
        self.set_state(ModuleState.CONNECTING, self.target())
        while True:
            reason = "connection closed"
            try:
                await self.session()
            except StopRetrying as exc:
                await self._safe_disconnect()
                self.set_state(ModuleState.ERROR, exc.reason)
                return
            except IntegrationError as exc:
                reason = exc.reason
            except (OSError, TimeoutError) as exc:
                reason = f"{self.target()} unreachable ({type(exc).__name__})"
            await self._safe_disconnect()
            if self._reached_on:
                self._backoff.reset()
                self._reached_on = False
            self.set_state(ModuleState.ERROR, f"{reason} - retrying")
            await self._backoff.sleep()

    async def _safe_disconnect(self) -> None:
        """Disconnect, logging instead of raising."""
        try:
            await self.disconnect()
        except Exception:
            log.exception("%s: disconnect failed", self.name)

    # --- hooks for subclasses ------------------------------------------------------------

    def target(self) -> str:
        """What this module connects to, for state reasons (host:port, url)."""
        return ""

    def on_start(self) -> None:
        """Called by start() before the connect loop begins (subscribe to the bus, spawn helpers)."""
        return None

    def on_stop(self) -> None:
        """Called by stop() after the tasks ended (close subscriptions)."""
        return None

    @abc.abstractmethod
    async def session(self) -> None:
        """Connect and serve until the connection ends (return or raise IntegrationError)."""

    async def disconnect(self) -> None:
        """Close the connection if open (must be safe to call repeatedly)."""
        return None
