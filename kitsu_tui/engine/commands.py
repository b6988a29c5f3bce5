"""The engine's command API (text turns, interrupt, skip, panic, mute, pause, module toggles)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from kitsu_tui.engine.events import Interrupted, ModuleState, OperatorAction, PanicStepsDone, Source

if TYPE_CHECKING:
    from kitsu_tui.engine.events import Event
    from kitsu_tui.engine.player import Player
    from kitsu_tui.engine.turns import Turn, TurnRunner
    from kitsu_tui.safety.moderator import Decision as InputDecision

log = logging.getLogger(__name__)

TOGGLEABLE_CORE = ("asr", "llm", "tts")


class EngineCommands:
    """Mixin holding every command a view, integration or chat command may send to the Engine."""

    if TYPE_CHECKING:  # provided by Engine
        current: TurnRunner | None
        generation: int
        player: Player
        pending: asyncio.Queue[Turn]
        panicked: bool
        muted: bool
        paused: bool
        modules: dict[str, Any]
        module_states: dict[str, tuple[ModuleState, str]]

        def emit(self, event: Event) -> None: ...
        def next_turn_id(self) -> int: ...
        def admit(self, turn: Turn, decision: InputDecision | None = None) -> bool: ...
        def _enqueue(self, turn: Turn) -> None: ...
        def refresh_state(self) -> None: ...
        def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]: ...
        def set_module_state(self, name: str, state: ModuleState, reason: str = "") -> None: ...
        def notice(self, level: str, message: str) -> None: ...

    def submit_text(self, text: str, source: Source = Source.CHAT, author: str = "",
                    decision: InputDecision | None = None, origin: str = "") -> bool:
        """Queue a text turn (chat, operator or /say); False when refused (the reason is emitted).

        `decision` is an allowed one from moderate_input for this text: it is reused, not checked again.
        `origin` names the input for the pre-air hold's per-source delay ("twitch"; default: the source).
        """
        from kitsu_tui.engine.turns import Turn

        text = text.strip()
        if not text:
            return False
        turn = Turn(self.next_turn_id(), source, text, author=author, arrived=time.monotonic(),
                    origin=origin or ("idle" if author == "idle" else str(source)))
        if not self.admit(turn, decision):
            return False
        self._enqueue(turn)
        return True

    def say(self, text: str) -> bool:
        """Speak `text` verbatim (no LLM); output moderation still applies."""
        return self.submit_text(text, Source.SAY, "operator")

    def interrupt(self, reason: str = "operator") -> bool:
        """Stop the current turn now: LLM stop flag, TTS queue dropped, playback cut; True if one ran."""
        runner = self.current
        self.generation += 1
        if runner is None:
            self.player.cut()
            return False
        runner.turn.interrupted = True
        runner.turn.stop.set()
        runner.chunker.reset()
        for _, _, task in runner._synth:
            if task is not None and not task.done():
                task.cancel()
        self.player.cut(runner.turn.turn_id)
        self.emit(Interrupted(turn_id=runner.turn.turn_id, reason=reason))
        return True

    def skip(self) -> bool:
        """Drop the sentence playing now; the rest of the reply goes on."""
        segment = self.player.skip_current()
        if segment is None:
            return False
        if self.current is not None and self.current.turn.turn_id == segment.turn_id:
            self.current.turn.interrupted = True
        self.emit(OperatorAction(action="skip", detail=segment.text, turn_id=segment.turn_id))
        return True

    def clear_queue(self) -> int:
        """Drop every waiting turn; returns how many."""
        dropped = 0
        while not self.pending.empty():
            self.pending.get_nowait()
            dropped += 1
        return dropped

    def panic(self) -> None:
        """Stop speech now, clear the LLM and TTS queues, mute the mic and fire the modules' panic actions."""
        if self.panicked:
            return
        self.panicked = True
        self.muted = True
        dropped = self.clear_queue()
        self.interrupt("panic")
        self.emit(OperatorAction(action="panic", detail=f"dropped {dropped} waiting turns"))
        self.refresh_state()
        self._fire_panic_hooks(True)

    def clear_panic(self, unmute: bool = False) -> None:
        """Leave panic deliberately; the mic stays muted unless `unmute`."""
        if not self.panicked:
            return
        self.panicked = False
        if unmute:
            self.muted = False
        self.emit(OperatorAction(action="clear_panic"))
        self.refresh_state()
        self._fire_panic_hooks(False)

    def _fire_panic_hooks(self, engaged: bool) -> None:
        for module in list(self.modules.values()):
            hook = getattr(module, "on_panic", None)
            if hook is not None:
                self.spawn(_run_panic_hook(self, module.name, hook, engaged), f"kitsu-panic-{module.name}")

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""
        self.muted = muted
        self.emit(OperatorAction(action="mute" if muted else "unmute"))
        self.refresh_state()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the pipeline: no listening, no new turns, held speech."""
        self.paused = paused
        self.emit(OperatorAction(action="pause" if paused else "resume"))
        self.refresh_state()

    def register_module(self, module: Any) -> None:
        """Add a module (integration, memory, telemetry); it starts with toggle_module(name, True)."""
        self.modules[module.name] = module
        self.set_module_state(module.name, ModuleState.OFF)

    async def toggle_module(self, name: str, on: bool) -> None:
        """Really start or stop a module; core asr/llm/tts toggles stop using that stage."""
        self.emit(OperatorAction(action="toggle", detail=f"{name} {'on' if on else 'off'}"))
        if name in TOGGLEABLE_CORE:
            state, reason = self.module_states.get(name, (ModuleState.OFF, ""))
            if on and state == ModuleState.ERROR:
                self.notice("warning", f"{name} cannot start: {reason}")
                return
            if not on and name == "llm":
                self.interrupt("llm turned off")
            self.set_module_state(name, ModuleState.ON if on else ModuleState.OFF)
            return
        module = self.modules.get(name)
        if module is None:
            self.notice("warning", f"no module named {name!r}")
            return
        try:
            if on:
                await module.start(self)
            else:
                await module.stop()
                self.set_module_state(name, ModuleState.OFF)
        except Exception as exc:
            log.exception("module %s failed to %s", name, "start" if on else "stop")
            self.set_module_state(name, ModuleState.ERROR, str(exc))
            self.notice("error", f"{name}: {exc}")


async def _run_panic_hook(engine: EngineCommands, name: str, hook: Any, engaged: bool) -> None:
    started = time.monotonic()
    try:
        steps = await asyncio.wait_for(hook(engaged), timeout=5.0)
        engine.emit(PanicStepsDone(module=name, engaged=engaged, steps=tuple(steps or ()),
                                   elapsed_ms=round((time.monotonic() - started) * 1000, 1)))
        engine.notice("info", f"{name} panic {'engaged' if engaged else 'cleared'}: {', '.join(steps or []) or 'done'}")
    except Exception as exc:
        with contextlib.suppress(Exception):
            engine.emit(PanicStepsDone(module=name, engaged=engaged, error=f"{type(exc).__name__}: {exc}",
                                       elapsed_ms=round((time.monotonic() - started) * 1000, 1)))
            engine.notice("error", f"{name} panic action failed: {exc}")
