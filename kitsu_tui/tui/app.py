"""The Textual operator console: app factory shared by `kitsu run` and the tests, keys, chat and boot."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerState

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.api import ConsoleEngine
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Source
from kitsu_tui.engine.heap import freeze_long_lived
from kitsu_tui.engine.modules import TOGGLEABLE_CORE
from kitsu_tui.tui.bridge import EngineBridge, EngineEvents
from kitsu_tui.tui.lag import LagProbe
from kitsu_tui.tui.screens.confirm import ConfirmScreen
from kitsu_tui.tui.screens.help import HelpScreen
from kitsu_tui.tui.screens.main import MainScreen
from kitsu_tui.tui.screens.persona import PersonaScreen, persona_names
from kitsu_tui.tui.text import clean
from kitsu_tui.tui.widgets.chat import ChatInput, parse_chat
from kitsu_tui.tui.widgets.stats import SystemStats
from kitsu_tui.tui.widgets.status import StatusBar
from kitsu_tui.tui.widgets.toggles import ModuleToggles

log = logging.getLogger(__name__)



class ConsoleParts(Protocol):
    """What an engine factory hands the console: the engine (in-process or attached) and warnings to show."""

    @property
    def engine(self) -> ConsoleEngine:
        """The engine the console drives."""

    @property
    def warnings(self) -> list[str]:
        """One-line reasons for parts that fell back."""


EngineFactory = Callable[[], ConsoleParts]
"""Builds the engine (called on a worker thread so heavy imports never delay the first frame)."""
ModuleAttacher = Callable[[Engine, Settings], Awaitable[None]]
"""Registers and starts the engine's toggleable modules (memory, telemetry, integrations)."""

#: (binding id, action, footer label) for every rebindable key; the keys come from settings.keys.
KEY_ACTIONS = [
    ("panic", "panic", "PANIC"),
    ("mute", "mute", "Mute"),
    ("skip", "skip", "Skip"),
    ("pause", "pause", "Pause"),
    ("family", "family", "Family"),
    ("persona", "persona", "Persona"),
    ("focus_chat", "focus_chat", "Chat"),
    ("approve", "approve", "Approve"),
    ("dump", "dump", "Dump"),
    ("dump_all", "dump_all", "Dump all"),
    ("help", "help", "Help"),
    ("quit", "quit", "Quit"),
]

HELP_ONLY = frozenset({"family"})
"""Keys left out of the footer (it has no room left); the help screen lists them."""


def default_engine_factory(settings: Settings) -> EngineFactory:
    """The real engine: microphone (or a clear reason), real backends, speakers (or WAV files, see build_engine)."""

    def factory() -> ConsoleParts:
        from kitsu_tui.bootstrap import build_engine, open_microphone

        mic, mic_reason = open_microphone(settings)
        parts = build_engine(settings, inputs=[mic] if mic is not None else [])
        if mic_reason:
            parts.warnings.insert(0, f"{mic_reason}. Voice is off; type in the chat box to talk to kitsu.")
        return parts  # without speakers build_engine already chose a null sink + WAV files and said so

    return factory


async def default_attach(engine: Engine, settings: Settings) -> None:
    """Register and start memory, telemetry, the enabled integrations and the show log (as `kitsu run --headless`)."""
    from kitsu_tui.bootstrap import attach_modules

    await attach_modules(engine, settings, show_log=True)


class KitsuApp(App[int]):
    """The operator console; `engine_factory` supplies the engine (real in `kitsu run`, fakes in tests)."""

    CSS_PATH = "kitsu.tcss"
    TITLE = "kitsu"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [*(Binding("ctrl+q", action, label, id=f"kitsu.{bid}", priority=True, show=bid not in HELP_ONLY)
                  for bid, action, label in KEY_ACTIONS),
                # Ctrl-C typed in the console quits like the quit key (asking first while kitsu speaks), as a
                # streamer expects; Textual turns the terminal's SIGINT off, so it would otherwise only show a hint
                Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, settings: Settings, engine_factory: EngineFactory | None = None,
                 attach: ModuleAttacher | None = default_attach, blink: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.engine_factory = engine_factory or default_engine_factory(settings)
        self.attach = attach
        self.blink = blink
        self.engine: ConsoleEngine | None = None
        self.bridge: EngineBridge | None = None
        self.lag = LagProbe(warn_s=settings.tui.stall_warn_ms / 1000)
        self.persona_file = settings.persona
        self.ready = asyncio.Event()
        self.boot_error: str | None = None
        self._engine_stop_task: asyncio.Task[None] | None = None
        self._heap_frozen = False
        self.detached = False
        """The console closed but the show goes on (SIGHUP); the host process ends the show later."""
        self.notice_history: list[tuple[str, str]] = []
        """Every notification shown (severity, message), newest last; bounded."""
        self.set_keymap({f"kitsu.{bid}": getattr(settings.keys, bid) for bid, _, _ in KEY_ACTIONS})

    # --- lifecycle ------------------------------------------------------------------------

    def get_default_screen(self) -> MainScreen:
        """The main screen is the base of the screen stack."""
        return MainScreen(self.settings.persona, self.settings.tui.transcript_lines, self.settings.tui.sparkline_turns)

    @property
    def main(self) -> MainScreen:
        """The main screen, even while a modal is on top."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def on_main_screen_ready(self, _: MainScreen.Ready) -> None:
        """Show the screen at once; build and start the engine in the background."""
        if not self.blink:
            self.main.query_one(ChatInput).cursor_blink = False
        self.lag.start()
        self.main.note("system", "starting: models load in the background (see modules)")
        self.run_worker(self._boot(), name="boot", exit_on_error=False)

    async def _boot(self) -> None:
        """Build the engine off the loop, attach the bridge, then start it without waiting for the models."""
        from kitsu_tui.backends.worker import set_background_nice

        set_background_nice(self.settings.tui.model_nice)  # model threads yield the CPU to the UI thread
        try:
            parts = await asyncio.to_thread(self.engine_factory)
        except ConfigError as exc:
            self._boot_failed("; ".join(exc.problems))
            return
        except Exception as exc:
            log.exception("engine could not be built")
            self._boot_failed(f"{type(exc).__name__}: {exc}")
            return
        engine = self.engine = parts.engine
        self.bridge = EngineBridge(engine.bus, self.post_message)
        self.bridge.start()
        self._seed_states(engine)
        for warning in parts.warnings:
            self.main.note("warning", warning)
            self.notify(clean(warning), severity="warning", timeout=10, markup=False)
        status = self.main.query_one(StatusBar)
        status.set_persona(engine.persona.shown_name)
        if not engine.has_microphone:
            status.set_mic("no mic")
        await self._attach_modules(engine)
        try:
            await engine.start(wait_loaded=False)
        except Exception as exc:
            self._boot_failed(f"engine did not start: {exc}")
            return
        self.ready.set()
        gc.disable()  # loading allocates the long-lived heap: full GC passes over it now would only stall the UI
        try:
            await engine.wait_loaded()
        finally:
            gc.enable()
        if self._engine_stop_task is None:
            freeze_long_lived()  # once, while nothing is said yet: no full GC pass over the loaded heap mid-show
            self._heap_frozen = True

    def _seed_states(self, engine: ConsoleEngine) -> None:
        toggles = self.main.query_one(ModuleToggles)
        toggles.toggleable = set(TOGGLEABLE_CORE) | set(engine.modules)
        for name, (state, reason) in engine.module_states.items():
            toggles.set_state(name, str(state), reason)

    async def _attach_modules(self, engine: ConsoleEngine) -> None:
        """Memory, telemetry and integrations; a failure here leaves the console and the core running."""
        if self.attach is not None and isinstance(engine, Engine):
            try:
                await self.attach(engine, self.settings)
            except Exception as exc:
                log.exception("modules could not be attached")
                self.main.note("error", f"modules not started: {exc}")
                self.notify(clean(f"modules not started: {exc}"), severity="error", markup=False)
        self._seed_states(engine)
        if "telemetry" not in engine.modules:
            self.main.query_one(SystemStats).show_unavailable("system stats off ([telemetry] enabled = false)")

    def _boot_failed(self, reason: str) -> None:
        self.boot_error = reason
        self.main.note("error", f"kitsu could not start: {reason}")
        self.notify(clean(f"kitsu could not start: {reason}"), severity="error", timeout=30, markup=False)
        self.ready.set()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Show a toast and remember it (the operator's history, and what tests assert on)."""
        self.notice_history = [*self.notice_history[-99:], (severity, message)]
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    async def wait_ready(self) -> None:
        """Return once the engine is started (or failed to)."""
        await self.ready.wait()

    async def shutdown_engine(self) -> None:
        """Stop the bridge, the engine and the lag probe, once; a cancelled caller never cuts the stop short."""
        if self._engine_stop_task is None:
            self._engine_stop_task = asyncio.get_running_loop().create_task(self._stop_all(), name="kitsu-tui-shutdown")
        await asyncio.shield(self._engine_stop_task)

    async def _stop_all(self) -> None:
        engine = self.engine
        if engine is not None and not self.detached:
            if engine.owns_show:
                await self._settle_turn(engine, 1.0)
            try:  # the quit ends within 5 s: 1 s to settle the turn, Engine.stop bounds itself at 3 s
                await asyncio.wait_for(engine.stop(), 3.5)
            except Exception:
                log.exception("engine did not stop cleanly")
        if self.bridge is not None:
            await self.bridge.stop()
        await self.lag.stop()
        if self._heap_frozen:
            gc.unfreeze()  # what the show held may be collected again (matters when the app runs in a test)

    @staticmethod
    async def _settle_turn(engine: ConsoleEngine, limit_s: float = 3.0) -> None:
        """Drop waiting turns and cut the current one, and let it end before the engine's tasks are cancelled."""
        engine.clear_queue()
        engine.interrupt("quit")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(engine.wait_idle(), limit_s)

    def detach(self) -> None:
        """Close the console but leave the show running (the terminal went away): the engine is not stopped."""
        self.detached = True
        self.exit(0)

    async def end_show(self) -> None:
        """Stop a show whose console detached earlier (its console is gone; the engine still runs)."""
        engine = self.engine
        if engine is None:
            return
        await self._settle_turn(engine)
        try:
            await asyncio.wait_for(engine.stop(), 10)
        except Exception:
            log.exception("engine did not stop cleanly")

    async def on_unmount(self) -> None:
        """Never leave the engine's threads running."""
        await self.shutdown_engine()

    def on_engine_events(self, message: EngineEvents) -> None:
        """A batch from the bridge: update the main screen."""
        self.main.apply_events(message.events)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures end up: a notification and the log, never a crash."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            log.error("worker %s failed: %s", event.worker.name, error, exc_info=error)
            self.notify(f"{event.worker.name} failed: {clean(str(error))}", severity="error", markup=False)

    # --- commands -------------------------------------------------------------------------

    def _engine_or_say(self) -> ConsoleEngine | None:
        if self.engine is None:
            self.notify(self.boot_error or "kitsu is still starting", severity="warning", markup=False)
        return self.engine

    def action_panic(self) -> None:
        """Panic; when already panicked, ask before clearing it."""
        engine = self._engine_or_say()
        if engine is None:
            return
        if not engine.panicked:
            engine.panic()
            self.notify("PANIC: speech stopped, queues cleared, mic muted. Press the panic key again to clear.",
                        severity="error", timeout=8)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                engine.clear_panic()
                self.notify(f"panic cleared; the mic stays muted ({self.settings.keys.mute} unmutes)")

        self.push_screen(ConfirmScreen("Clear panic? kitsu may speak again; the mic stays muted."), answered)

    def action_mute(self) -> None:
        """Mute or unmute the microphone."""
        if (engine := self._engine_or_say()) is not None:
            engine.set_muted(not engine.muted)

    def action_skip(self) -> None:
        """Drop the sentence being played."""
        if (engine := self._engine_or_say()) is not None and not engine.skip():
            self.notify("nothing is playing")

    def action_approve(self) -> None:
        """Put the oldest held sentence on air now."""
        if (engine := self._engine_or_say()) is not None and not engine.approve_held():
            self.notify("nothing is held")

    def action_dump(self) -> None:
        """Dump the oldest held sentence: never spoken, never stored."""
        if (engine := self._engine_or_say()) is not None and not engine.dump_held():
            self.notify("nothing is held")

    def action_dump_all(self) -> None:
        """Dump every held sentence."""
        if (engine := self._engine_or_say()) is not None and not engine.dump_all_held():
            self.notify("nothing is held")

    def action_pause(self) -> None:
        """Pause or resume the pipeline."""
        if (engine := self._engine_or_say()) is not None:
            engine.set_paused(not engine.paused)

    def action_family(self) -> None:
        """Switch family mode (the stricter moderation rules) on or off for the rest of the show."""
        if (engine := self._engine_or_say()) is not None:
            engine.set_family_friendly(not engine.family_friendly)
            self.notify(f"family mode {'on' if engine.family_friendly else 'off'}")

    def action_persona(self) -> None:
        """Pick a persona from personas_dir."""
        if self._engine_or_say() is None:
            return
        names = persona_names(self.settings.paths.personas_dir)
        if not names:
            self.notify(f"no personas in {self.settings.paths.personas_dir}", severity="warning", markup=False)
            return
        self.push_screen(PersonaScreen(names, self.persona_file),
                         lambda name: self.switch_persona(name) if name else None)

    def switch_persona(self, name: str) -> None:
        """Switch persona on a worker; a broken file is reported and the old persona kept."""
        self.run_worker(self._switch_persona(name), name="persona", exit_on_error=False)

    async def _switch_persona(self, name: str) -> None:
        engine = self._engine_or_say()
        if engine is None:
            return
        try:
            await engine.switch_persona(name)
        except ConfigError as exc:
            message = "; ".join(exc.problems) or str(exc)
            self.main.note("error", f"persona {name} not loaded: {message}")
            self.notify(clean(f"persona {name} not loaded (kept {self.persona_file}): {message}"),
                        severity="error", timeout=10, markup=False)
            return
        self.persona_file = name  # the settings stay as loaded (frozen); the app tracks the active persona

    def action_focus_chat(self) -> None:
        """Put the cursor in the chat input."""
        self.main.query_one(ChatInput).focus()

    def action_help(self) -> None:
        """Show the keys."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.settings.keys))

    async def action_quit(self) -> None:
        """Quit; while kitsu is thinking or speaking, ask first."""
        engine = self.engine
        if engine is not None and engine.speaking:
            if isinstance(self.screen, ConfirmScreen):
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self.call_next(self._quit_now)

            self.push_screen(ConfirmScreen("kitsu is speaking. Quit anyway?", yes="Quit"), answered)
            return
        await self._quit_now()

    async def _quit_now(self) -> None:
        await self.shutdown_engine()
        self.exit(0)

    def on_input_submitted(self, event: ChatInput.Submitted) -> None:
        """A chat line: a text turn, /say, /persona or /help."""
        event.input.value = ""
        command = parse_chat(event.value)
        if command.kind == "empty":
            return
        if command.kind == "help":
            self.action_help()
            return
        if command.kind == "error":
            self.notify(command.arg, severity="warning", markup=False)
            return
        engine = self._engine_or_say()
        if engine is None:
            return
        if command.kind == "persona":
            self.switch_persona(command.arg)
        elif command.kind == "say":
            engine.say(command.arg)
        else:
            engine.submit_text(command.arg, Source.OPERATOR, "operator")

    def on_module_toggles_toggled(self, event: ModuleToggles.Toggled) -> None:
        """Really start or stop a module in the engine."""
        engine = self._engine_or_say()
        if engine is None:
            return
        if event.module not in TOGGLEABLE_CORE and event.module not in engine.modules:
            shown = self.main.query_one(ModuleToggles).states.get(event.module, ("off", ""))[0]
            why = "cannot be switched from the console" if shown != "off" else \
                f"is not set up: enable it in kitsu.toml ([{event.module}] enabled = true)"
            self.notify(f"{event.module} {why}", severity="warning", markup=False)
            return
        self.run_worker(engine.toggle_module(event.module, event.on), name=f"toggle {event.module}",
                        exit_on_error=False)


def native_log_path(settings: Settings) -> Path:
    """Where native libraries' stderr goes while the console owns the terminal (next to the JSON logs)."""
    return settings.paths.log_dir / f"native-{dt.date.today().isoformat()}.log"
