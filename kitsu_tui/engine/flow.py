"""The turn flow: each turn starts with a fresh context and leaves history, memory, recording and its record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.events import PipelineState, TurnStarted
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.turn import Turn
from kitsu_tui.engine.turns import TurnRunner

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona


@dataclass
class TurnFlow:
    """Hands each turn the parts it needs when it starts, and stores what it leaves when it ends."""

    parts: TurnContext
    """What every turn shares; each turn gets a copy with the persona and recent chatters of its moment."""
    persona: Callable[[], Persona]
    queue: TurnQueue

    async def run(self, settle: Callable[[], None]) -> None:
        """Run turns from the queue forever; `settle` announces the resting state after each."""
        await self.queue.run(self.prepare, self.started, self.complete, settle)

    async def prepare(self, turn: Turn) -> TurnRunner | None:
        """Wait out a pause; a turn taken under panic is dropped; else a runner with this moment's context."""
        while self.parts.show.paused and not self.parts.show.panicked:  # noqa: ASYNC110 - pause is rare; a poll keeps it simple
            await asyncio.sleep(0.05)
        if self.parts.show.panicked:
            return None
        return TurnRunner(replace(self.parts, persona=self.persona(), chat_logins=self.queue.chat_logins), turn)

    def started(self, runner: TurnRunner) -> None:
        """Announce a turn that just became current."""
        turn = runner.turn
        self.parts.emit(TurnStarted(turn_id=turn.turn_id, source=turn.source, text=turn.text, author=turn.author,
                              arrived=turn.arrived))
        self.parts.show.announce(PipelineState.THINKING)

    async def complete(self, turn: Turn) -> None:
        """Keep what was heard (history, memory), warm the LLM for what comes next, write the recording."""
        turn.mark("end")
        if turn.discarded:
            self.parts.recorder.drop(turn.turn_id)
            return
        record = turn.record()
        if turn.flagged:
            record["flagged"] = True
        await self.parts.conversation.remember(turn, record["spoken"])
        if self.parts.show.module_on("llm") and self.queue.pending.empty() and turn.warmed_for != record["spoken"]:
            self.parts.spawn(self.parts.conversation.warm(f"{turn.text} {record['spoken']}"), "kitsu-llm-warm")
        await self.parts.recorder.finish(turn.turn_id, record, self.parts.backends.tts.sample_rate)
        self.queue.finish(record)
