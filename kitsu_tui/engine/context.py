"""What one turn works with, handed down by the engine when the turn starts: no turn calls back into Engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.factory import FallbackVoices
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.engine.api import Spawn
from kitsu_tui.engine.conversation import Conversation
from kitsu_tui.engine.events import Event
from kitsu_tui.engine.hold import PreAirHold
from kitsu_tui.engine.llmhealth import LlmHealth
from kitsu_tui.engine.player import Player
from kitsu_tui.engine.recorder import ReplyRecorder
from kitsu_tui.engine.state import ShowState

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import Moderator
    from kitsu_tui.safety.moderator import Decision

@dataclass(frozen=True)
class TurnContext:
    """The backends, workers, persona, gates and sinks one turn uses; the persona is fixed for the turn."""

    settings: Settings
    persona: Persona
    backends: Backends
    llm_worker: ModelWorker
    tts_worker: ModelWorker
    player: Player
    hold: PreAirHold
    moderator: Moderator | None
    conversation: Conversation
    show: ShowState
    recorder: ReplyRecorder
    emit: Callable[[Event], None]
    spawn: Spawn
    chat_logins: frozenset[str]
    """Logins seen in chat lately: a reply never reads one out unasked."""
    llm_health: LlmHealth
    """The LLM's run of failures: backoff before the next call, the module in error after [llm] fail_after."""
    tts_fallbacks: FallbackVoices = field(default_factory=FallbackVoices)
    """tts.fallback_voices, loaded on first need and kept for the show (every turn's context shares them)."""

    def moderate_output(self, sentence: str, context: str = "") -> Decision | None:
        """The moderation decision for one reply sentence (`context`: the message it answers), None when off."""
        if self.moderator is None:
            return None
        return self.moderator.check_output(sentence, self.show.family_friendly, self.persona.language, context)
