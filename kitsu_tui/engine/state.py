"""The show's switches and gauges: mute, pause, panic, family mode, module states and speech gates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kitsu_tui.engine.events import (
    Event,
    ModuleState,
    ModuleStateChanged,
    Notice,
    PipelineState,
    PipelineStateChanged,
)

log = logging.getLogger(__name__)

FAILING = "failing: "
"""Opens the reason of a module in error at run time (not at load): toggling it on may retry it."""
SpeechGate = Callable[[], str | None]
"""Returns a reason while kitsu must not start speaking (an OBS 'BRB' scene), else None."""


class ShowState:
    """Owns the operator's switches and each module's state, and announces every change once."""

    def __init__(self, emit: Callable[[Event], None], family_friendly: bool) -> None:
        self._emit = emit
        self.muted = False
        self.paused = False
        self.panicked = False
        self.family_friendly = family_friendly
        """Family mode: the stricter moderation rules (starts from the persona, switchable at run time)."""
        self.module_states: dict[str, tuple[ModuleState, str]] = {}
        self.pipeline = PipelineState.LOADING
        self._announced: tuple[PipelineState, bool, bool, bool] | None = None
        self._gates: dict[str, SpeechGate] = {}

    def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None:
        """Record and announce a module's state."""
        self.module_states[name] = (state, reason)
        self._emit(ModuleStateChanged(module=name, state=state, reason=reason))

    def module_on(self, name: str) -> bool:
        """True when the module is loaded/connected and enabled."""
        return self.module_states.get(name, (ModuleState.OFF, ""))[0] == ModuleState.ON

    def module_reason(self, name: str) -> str:
        """Why a stage cannot be used, for a refused turn ("llm is error (no model)")."""
        state, why = self.module_states.get(name, (ModuleState.OFF, ""))
        return f"{name} is {state}" + (f" ({why})" if why and state == ModuleState.ERROR else "")

    def notice(self, level: str, message: str) -> None:
        """Tell the operator something in one line."""
        log.log(log_level(level), message)
        self._emit(Notice(level=level, message=message))

    def announce(self, state: PipelineState) -> None:
        """Announce the pipeline state (together with the switches) when it changed."""
        announced = (state, self.muted, self.paused, self.panicked)
        if announced == self._announced:
            return
        self._announced = announced
        self.pipeline = state
        self._emit(PipelineStateChanged(state=state, muted=self.muted, paused=self.paused, panic=self.panicked))

    def resting(self, speaking: bool | None, loaded: bool) -> PipelineState:
        """The state to show: a switch first, else speaking/thinking (`speaking` None: no turn), else listening."""
        if self.panicked:
            return PipelineState.PANIC
        if self.paused:
            return PipelineState.PAUSED
        if self.muted:
            return PipelineState.MUTED
        if speaking is not None:
            return PipelineState.SPEAKING if speaking else PipelineState.THINKING
        return PipelineState.LISTENING if loaded else PipelineState.LOADING

    def add_speech_gate(self, name: str, gate: SpeechGate) -> None:
        """Register a gate: while it returns a reason string, kitsu does not start speaking."""
        self._gates[name] = gate

    def remove_speech_gate(self, name: str) -> None:
        """Drop a gate."""
        self._gates.pop(name, None)

    async def wait_until_speech_allowed(self, stale: Callable[[], bool]) -> None:
        """Hold speech while a gate or pause is active (until `stale()`: the turn was interrupted)."""
        announced = False
        while not stale():
            reasons = [reason for gate in list(self._gates.values()) if (reason := _safe_gate(gate))]
            if not reasons and not self.paused:
                break
            if not announced:
                announced = True
                self.notice("info", f"speech held: {', '.join(reasons) or 'paused'}")
            await asyncio.sleep(0.1)


def log_level(level: str) -> int:
    """The logging level of a notice level ("error", "warning", anything else: info)."""
    return logging.ERROR if level == "error" else logging.WARNING if level == "warning" else logging.INFO


def _safe_gate(gate: SpeechGate) -> str | None:
    try:
        return gate()
    except Exception:
        log.exception("speech gate failed")
        return None
