"""Twitch chat commands (!skip, !scene...) for mods and the broadcaster: mute, unmute, skip, panic, scene, toggle, persona."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kitsu_tui.engine.api import EngineApi
from kitsu_tui.engine.events import OperatorAction
from kitsu_tui.integrations.chat import ChatLine

log = logging.getLogger(__name__)

COMMANDS = ("mute", "unmute", "skip", "panic", "unpanic", "scene", "toggle", "persona")

SceneSwitcher = Callable[[str], Awaitable[str]]
"""Makes a scene live and returns a one-line result (the OBS module's switch_scene)."""


@runtime_checkable
class SceneSwitching(Protocol):
    """A module that can change the live scene (the OBS module), found among the engine's modules by isinstance."""

    async def switch_scene(self, scene: str) -> str:
        """Make `scene` live; returns a one-line result."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What happened to a command: run (with a detail line) or ignored (with the reason)."""

    ran: bool
    detail: str


def parse_command(text: str, prefix: str = "!") -> tuple[str, str] | None:
    """('scene', 'Just Chatting') for '!scene Just Chatting'; None when text is not a command."""
    stripped = text.strip()
    if not prefix or not stripped.startswith(prefix) or len(stripped) == len(prefix):
        return None
    name, _, args = stripped[len(prefix):].partition(" ")
    return name.casefold(), args.strip()


class CommandRunner:
    """Checks permissions and runs commands through the Engine's command API."""

    def __init__(self, engine: EngineApi, scene_switcher: SceneSwitcher | None = None,
                 module_states: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.scene_switcher = scene_switcher
        self.module_states = module_states if module_states is not None else {}

    async def run(self, message: ChatLine, name: str, args: str) -> CommandResult:
        """Run one command if its sender may; everyone else's commands are ignored and logged."""
        who = message.login
        if not message.is_mod:
            log.info("twitch: ignored !%s from %s (not a mod or the broadcaster)", name, who)
            return CommandResult(False, f"ignored !{name} from {who}: not a mod")
        if name not in COMMANDS:
            log.info("twitch: ignored unknown command !%s from %s", name, who)
            return CommandResult(False, f"ignored unknown command !{name} from {who}")
        try:
            detail = await self._dispatch(name, args)
        except Exception as exc:
            detail = f"!{name} from {who} failed: {exc}"
            self.engine.notice("warning", detail)
            self._record(name, args, who, f"failed: {exc}")
            return CommandResult(False, detail)
        self.engine.notice("info", f"twitch mod {who}: {detail}")
        self._record(name, args, who, detail)
        return CommandResult(True, detail)

    async def _dispatch(self, name: str, args: str) -> str:
        """Run a permitted command and return its one-line result."""
        engine = self.engine
        if name in ("mute", "unmute"):
            engine.set_muted(name == "mute")
            return name
        if name == "skip":
            engine.skip()
            return "skip"
        if name == "panic":
            engine.panic()
            return "panic"
        if name == "unpanic":
            engine.clear_panic()
            return "panic cleared"
        if name == "scene":
            if not args:
                raise ValueError("usage: !scene NAME")
            if self.scene_switcher is None:
                raise ValueError("OBS module is not available")
            return await self.scene_switcher(args)
        if name == "toggle":
            return await self._toggle(args)
        if not args:
            raise ValueError("usage: !persona NAME")
        await engine.switch_persona(args)
        return f"persona -> {args}"

    async def _toggle(self, args: str) -> str:
        """!toggle MODULE [on|off]: without on/off, flip the module's last known state."""
        parts = args.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].casefold() not in ("on", "off")):
            raise ValueError("usage: !toggle MODULE [on|off]")
        module = parts[0].casefold()
        if len(parts) == 2:
            on = parts[1].casefold() == "on"
        else:
            on = self.module_states.get(module, "off") in ("off", "error")
        await self.engine.toggle_module(module, on)
        return f"{module} {'on' if on else 'off'}"

    def _record(self, name: str, args: str, who: str, outcome: str) -> None:
        """An operator action for the show log: which mod ran which command, and what came of it."""
        self.engine.emit(OperatorAction(action="mod_command", detail=f"!{name} {args}".strip() + f" -> {outcome}",
                                        by=f"twitch:{who}"))
