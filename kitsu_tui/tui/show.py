"""`kitsu run` and `kitsu attach` in a terminal: the console beside its show, or attached to a running one.

The show outlives its terminal: on SIGHUP (an SSH connection dropped, a laptop lid closed) the console
closes, the engine keeps running headless (still speaking, still reading chat) until `kitsu stop`, SIGTERM
or Ctrl-C, and `kitsu attach` opens the same console on it again through the control API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kitsu_tui.config.settings import Settings
from kitsu_tui.control import ControlServer, start_control_api
from kitsu_tui.control.client import ControlError, client_for
from kitsu_tui.control.remote import RemoteEngine
from kitsu_tui.engine.engine import Engine
from kitsu_tui.exits import ExitSignals
from kitsu_tui.showlock import ShowLock, ShowRunning
from kitsu_tui.tui.app import KitsuApp, native_log_path

log = logging.getLogger(__name__)


def run_tui(settings: Settings) -> int:
    """`kitsu run`: the show with its console in this terminal."""
    return _in_terminal(settings, lambda: run_console_show(settings))


def run_attach(settings: Settings) -> int:
    """`kitsu attach`: a console on the show that is already running."""
    return _in_terminal(settings, lambda: attach_console(settings))


def _in_terminal(settings: Settings, main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run a console coroutine; fd 2 goes to a log file so native output never hits the screen."""
    from kitsu_tui.backends.native import redirect_native_stderr

    terminal_fd = os.dup(2)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace", closefd=True)
    saved = sys.__stderr__, sys.stderr
    try:
        with redirect_native_stderr(native_log_path(settings)):
            setattr(sys, "__stderr__", terminal)  # noqa: B010 - Textual draws on sys.__stderr__: keep the real tty
            sys.stderr = terminal
            return asyncio.run(main())
    finally:
        setattr(sys, "__stderr__", saved[0])  # noqa: B010 - restore what Python started with
        sys.stderr = saved[1]
        with contextlib.suppress(OSError):  # the terminal may be gone (a detached show)
            terminal.close()


async def run_console_show(settings: Settings) -> int:
    """One show owns the devices: take the lock (or say how to reach the running show), then run it."""
    lock = ShowLock(settings.paths.log_dir)
    try:
        lock.acquire()
    except ShowRunning as exc:
        print(f"kitsu: {exc.advice()}", file=sys.stderr)
        return 1
    try:
        return await ConsoleHost(settings, lock).run()
    finally:
        lock.release()


class ConsoleHost:
    """The show's process: the console, the control API, and the engine that outlives a lost terminal."""

    def __init__(self, settings: Settings, lock: ShowLock) -> None:
        self.settings = settings
        self.lock = lock
        self.app = KitsuApp(settings)
        self.console = "in-process"
        """What `kitsu status` says of the console: in-process, then detached once the terminal is gone."""
        self.stop_requested = asyncio.Event()
        self.server: ControlServer | None = None

    async def run(self) -> int:
        """Run the console; if the terminal hangs up, go on headless until asked to stop.

        SIGTERM and SIGINT end the show as `kitsu stop` does, within 5 s (the watchdog of kitsu_tui.exits
        ends an overrunning stop): 0 after SIGTERM (how a service manager ends a show), 130 after SIGINT.
        A Ctrl-C typed into the console is a key, not SIGINT: Textual points to the quit key.
        """
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self._hangup)
        api = loop.create_task(self._serve_api(), name="kitsu-control-api")
        with ExitSignals(lambda _signum: self.request_stop()) as signals:
            try:
                result = await self.app.run_async()
                if self.app.detached:
                    await self._headless_until_stopped()
            finally:
                loop.remove_signal_handler(signal.SIGHUP)  # SIGTERM and SIGINT stay handled until the API is closed
                api.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await api
                if self.server is not None:
                    await self.server.close()
        return signals.code(default=int(result or 0), term=0)

    async def _serve_api(self) -> None:
        """The control API, once the engine exists (a taken port is one warning; the show goes on)."""
        await self.app.wait_ready()
        engine = self.app.engine
        if isinstance(engine, Engine):
            self.server = await start_control_api(engine, self.settings, self.request_stop, lambda: self.console)
            if self.server is not None:
                self.lock.describe(self.server.url)

    def _hangup(self) -> None:
        """The terminal went away: the console detaches, the show goes on."""
        if self.console != "in-process":
            return
        if self.app.engine is None:
            self.app.exit(0)  # nothing is on air yet: there is no show to keep
            return
        log.warning("terminal hung up: the console detaches, the show goes on (kitsu attach reopens it)")
        self.console = "detached"
        self.app.detach()

    def request_stop(self) -> None:
        """End the show cleanly (SIGTERM, `kitsu stop`, Ctrl-C once detached)."""
        if self.app.detached:
            self.stop_requested.set()
        else:
            self.app.exit(0)

    async def _headless_until_stopped(self) -> None:
        """Keep the engine running with no terminal until `kitsu stop`, SIGTERM or SIGINT."""
        self.console = "detached"
        _lose_terminal()
        engine = self.app.engine
        if engine is not None:
            engine.notice("warning", "console detached: the show goes on; `kitsu attach` reopens the console")
        await self.stop_requested.wait()
        log.info("stopping the detached show")
        await self.app.end_show()


def _lose_terminal() -> None:
    """Point stdin, stdout and Python's stderr at /dev/null: writes to a hung-up terminal would fail."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)
    quiet = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stdout = quiet
    setattr(sys, "__stderr__", quiet)  # noqa: B010 - nothing may write to the lost terminal
    sys.stderr = quiet


@dataclass
class AttachedParts:
    """What `kitsu attach` hands the console: the remote engine (and nothing that fell back)."""

    engine: RemoteEngine
    warnings: list[str] = field(default_factory=list)


async def attach_console(settings: Settings) -> int:
    """Open the console on the running show; without one, say so in one line."""
    try:
        client = client_for(settings)
        await client.status()
    except (ControlError, OSError) as exc:
        print(f"kitsu: {exc}", file=sys.stderr)
        return 1
    app = KitsuApp(settings, engine_factory=lambda: AttachedParts(RemoteEngine.connect_blocking(settings, client)),
                   attach=None)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: app.exit(0))  # the show goes on without this console
    try:
        return int(await app.run_async() or 0)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await client.close()
