"""Idle talk: after a quiet spell the persona says something on its own, a few times in a row at most."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kitsu_tui.engine.events import Event, Source, SpeechStarted, TurnCompleted
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.state import ShowState

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona


class IdleTalk:
    """Watches for quiet (no speech, no finished turn) and submits one of the persona's [idle] lines."""

    def __init__(self, persona: Callable[[], Persona], show: ShowState, queue: TurnQueue, player: Player,
                 submit: Callable[[str, Source, str], bool]) -> None:
        self._persona = persona
        self._show = show
        self._queue = queue
        self._player = player
        self._submit = submit
        self.last_activity = time.monotonic()
        """When something last happened (speech, a finished turn)."""
        self.in_a_row = 0
        """Idle turns spoken since the last real input."""

    def observe(self, event: Event) -> None:
        """Bus listener: speech and finished turns (other than idle ones) end the quiet spell."""
        if isinstance(event, SpeechStarted | TurnCompleted):
            self.last_activity = time.monotonic()
            if isinstance(event, SpeechStarted) or event.record.get("author") != "idle":
                self.in_a_row = 0

    def _quiet_enough(self) -> bool:
        idle, show = self._persona().idle, self._show
        return not (not idle.enabled or time.monotonic() - self.last_activity < idle.idle_after_s
                    or self.in_a_row >= idle.max_in_a_row or self._queue.busy or self._player.busy
                    or show.paused or show.panicked or show.muted or not show.module_on("tts"))

    async def run(self) -> None:
        """Check once a second; say a fixed line, or ask the LLM with the line as a prompt."""
        rng = random.Random()
        while True:
            await asyncio.sleep(1.0)
            if not self._quiet_enough():
                continue
            choice = self._persona().idle.pick(rng)
            if choice is None:
                continue
            kind, text = choice
            self.in_a_row += 1
            self.last_activity = time.monotonic()
            if kind == "say":
                self._submit(text, Source.SAY, "idle")
            elif self._show.module_on("llm"):
                self._submit(text, Source.OPERATOR, "idle")
