"""The turn flow: each turn starts with a fresh context and leaves history, memory, recording and its record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.engine.api import Spawn
from kitsu_tui.engine.context import TurnContext
from kitsu_tui.engine.conversation import Conversation
from kitsu_tui.engine.events import Event, PipelineState, TurnStarted
from kitsu_tui.engine.hold import PreAirHold
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.recorder import ReplyRecorder
from kitsu_tui.engine.scheduler import TurnQueue
from kitsu_tui.engine.state import ShowState
from kitsu_tui.engine.turn import Turn
from kitsu_tui.engine.turns import TurnRunner

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import Moderator


@dataclass
class TurnFlow:
    """Hands each turn the parts it needs when it starts, and stores what it leaves when it ends."""

    settings: Settings
    persona: Callable[[], Persona]
    backends: Backends
    llm_worker: ModelWorker
    tts_worker: ModelWorker
    player: Player
    hold: PreAirHold
    moderator: Moderator | None
    conversation: Conversation
    show: ShowState
    recorder: ReplyRecorder
    queue: TurnQueue
    emit: Callable[[Event], None]
    spawn: Spawn

    async def run(self, settle: Callable[[], None]) -> None:
        """Run turns from the queue forever; `settle` announces the resting state after each."""
        await self.queue.run(self.prepare, self.started, self.complete, settle)

    async def prepare(self, turn: Turn) -> TurnRunner | None:
        """Wait out a pause; a turn taken under panic is dropped; else a runner with this moment's context."""
        while self.show.paused and not self.show.panicked:  # noqa: ASYNC110 - pause is rare; a poll keeps it simple
            await asyncio.sleep(0.05)
        if self.show.panicked:
            return None
        ctx = TurnContext(self.settings, self.persona(), self.backends, self.llm_worker, self.tts_worker,
                          self.player, self.hold, self.moderator, self.conversation, self.show, self.recorder,
                          self.emit, self.spawn, self.queue.chat_logins)
        return TurnRunner(ctx, turn)

    def started(self, runner: TurnRunner) -> None:
        """Announce a turn that just became current."""
        turn = runner.turn
        self.emit(TurnStarted(turn_id=turn.turn_id, source=turn.source, text=turn.text, author=turn.author,
                              arrived=turn.arrived))
        self.show.announce(PipelineState.THINKING)

    async def complete(self, turn: Turn) -> None:
        """Keep what was heard (history, memory), warm the LLM for what comes next, write the recording."""
        turn.mark("end")
        if turn.discarded:
            self.recorder.drop(turn.turn_id)
            return
        record = turn.record()
        if turn.flagged:
            record["flagged"] = True
        await self.conversation.remember(turn, record["spoken"])
        if self.show.module_on("llm") and self.queue.pending.empty() and turn.warmed_for != record["spoken"]:
            self.spawn(self.conversation.warm(f"{turn.text} {record['spoken']}"), "kitsu-llm-warm")
        await self.recorder.finish(turn.turn_id, record, self.backends.tts.sample_rate)
        self.queue.finish(record)
