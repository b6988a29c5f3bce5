"""The pluggable modules (integrations, memory, telemetry): registered, toggled, told of panic, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kitsu_tui.engine.api import Module, PanicAware, Spawn
from kitsu_tui.engine.events import Event, ModuleState, OperatorAction, PanicStepsDone
from kitsu_tui.engine.state import FAILING, ShowState

if TYPE_CHECKING:
    from kitsu_tui.engine.api import EngineApi

log = logging.getLogger(__name__)

TOGGLEABLE_CORE = ("asr", "llm", "tts")
PANIC_HOOK_TIMEOUT_S = 5.0


class ModuleRegistry:
    """Owns the modules by name; starting one hands it the engine's API, a failure only marks it in error."""

    def __init__(self, show: ShowState, emit: Callable[[Event], None], spawn: Spawn) -> None:
        self._show = show
        self._emit = emit
        self._spawn = spawn
        self.modules: dict[str, Module] = {}

    def register(self, module: Module) -> None:
        """Add a module; it starts with toggle(name, True)."""
        self.modules[module.name] = module
        self._show.set_module_state(module.name, ModuleState.OFF)

    async def toggle(self, name: str, on: bool, engine: EngineApi, llm_off: Callable[[], object]) -> None:
        """Really start or stop a module; core asr/llm/tts toggles stop using that stage (`llm_off` interrupts)."""
        show = self._show
        self._emit(OperatorAction(action="toggle", detail=f"{name} {'on' if on else 'off'}"))
        if name in TOGGLEABLE_CORE:
            state, reason = show.module_states.get(name, (ModuleState.OFF, ""))
            if on and state == ModuleState.ERROR and not reason.startswith(FAILING):
                show.notice("warning", f"{name} cannot start: {reason}")
                return
            if not on and name == "llm":
                llm_off()
            show.set_module_state(name, ModuleState.ON if on else ModuleState.OFF)
            return
        module = self.modules.get(name)
        if module is None:
            show.notice("warning", f"no module named {name!r}")
            return
        try:
            if on:
                await module.start(engine)
            else:
                await module.stop()
                show.set_module_state(name, ModuleState.OFF)
        except Exception as exc:
            log.exception("module %s failed to %s", name, "start" if on else "stop")
            show.set_module_state(name, ModuleState.ERROR, str(exc))
            show.notice("error", f"{name}: {exc}")

    def fire_panic(self, engaged: bool) -> None:
        """Run every panic-aware module's panic action in its own task (each bounded in time)."""
        for module in list(self.modules.values()):
            if isinstance(module, PanicAware):
                self._spawn(self._panic_hook(module.name, module, engaged), f"kitsu-panic-{module.name}")

    async def _panic_hook(self, name: str, module: PanicAware, engaged: bool) -> None:
        started = time.monotonic()
        try:
            steps = await asyncio.wait_for(module.on_panic(engaged), timeout=PANIC_HOOK_TIMEOUT_S)
            self._emit(PanicStepsDone(module=name, engaged=engaged, steps=tuple(steps or ()),
                                      elapsed_ms=round((time.monotonic() - started) * 1000, 1)))
            self._show.notice("info", f"{name} panic {'engaged' if engaged else 'cleared'}: "
                                      f"{', '.join(steps or []) or 'done'}")
        except Exception as exc:
            with contextlib.suppress(Exception):
                self._emit(PanicStepsDone(module=name, engaged=engaged, error=f"{type(exc).__name__}: {exc}",
                                          elapsed_ms=round((time.monotonic() - started) * 1000, 1)))
                self._show.notice("error", f"{name} panic action failed: {exc}")

    async def stop_all(self, timeout_s: float = 1.5) -> None:
        """Stop every module in turn within `timeout_s` in all (one that overruns is cancelled; shutdown goes on)."""
        deadline = time.monotonic() + timeout_s
        for name, module in list(self.modules.items()):
            try:
                await asyncio.wait_for(module.stop(), max(0.2, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("module %s did not stop in time", name)
            except Exception:
                log.debug("module %s failed to stop", name, exc_info=True)
