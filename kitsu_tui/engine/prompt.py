"""Builds LLM prompts with a stable prefix (persona + examples) so llama.cpp reuses its KV cache."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.engine.events import Source

if TYPE_CHECKING:
    from kitsu_tui.engine.engine import Engine
    from kitsu_tui.engine.turns import Turn

log = logging.getLogger(__name__)

NOTES_MAX_CHARS = 400
"""Remembered notes are re-read by the LLM each time they change: keep them short (prefill ~250 tok/s)."""


class PromptBuilder:
    """Assembles system prompt, few-shot examples, recalled memory, recent history and the new input."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache_key: tuple[int, str] | None = None
        self._prefix: list[ChatMessage] = []
        self._notes: list[str] = []

    async def prefix(self) -> list[ChatMessage]:
        """The part of every prompt that never changes for a persona (cached)."""
        persona = self.engine.persona
        key = (id(persona), persona.name)
        if key != self._cache_key:
            prompts_dir = self.engine.settings.paths.prompts_dir
            system = await self.engine.io_worker.call(persona.build_system_prompt, prompts_dir)
            messages = [ChatMessage("system", system or f"You are {persona.shown_name}, a VTuber.")]
            for example in persona.examples:
                messages.append(ChatMessage("user", example.user))
                messages.append(ChatMessage("assistant", example.assistant))
            self._prefix, self._cache_key = messages, key
        return list(self._prefix)

    async def conversation(self, history: list[tuple[str, str]] | None = None) -> list[ChatMessage]:
        """Prefix, history and remembered notes: what the next prompt starts with (kept in the KV cache)."""
        messages = await self.prefix()
        messages.extend(ChatMessage(role, text) for role, text in (self.engine.history if history is None else history))
        if self._notes:
            messages.append(ChatMessage("system", "Things you remember:\n- " + "\n- ".join(self._notes)))
        return messages

    async def refresh_notes(self, topic: str, exclude_recent: int | None = None) -> None:
        """Recall memory for the conversation's current topic, ahead of the next turn (so it can be cached)."""
        memory = self.engine.memory
        if memory is None:
            self._notes = []
            return
        if exclude_recent is None:
            exclude_recent = len(self.engine.history)
        try:
            recalled = []
            if topic.strip():
                recalled = await memory.recall(topic, self.engine.settings.memory.recall_limit, exclude_recent)
            notes = [*await memory.restored_context(), *recalled]
        except Exception:
            log.exception("memory recall failed")
            return
        kept, size = [], 0
        for note in dict.fromkeys(n.strip() for n in notes if n.strip()):
            if size + len(note) > NOTES_MAX_CHARS:
                break
            kept.append(note)
            size += len(note)
        self._notes = kept

    async def messages(self, turn: Turn) -> list[ChatMessage]:
        """The full prompt for a turn: the cached conversation plus the new input."""
        messages = await self.conversation()
        user = turn.text if turn.source != Source.CHAT or not turn.author else f"{turn.author} says: {turn.text}"
        messages.append(ChatMessage("user", user))
        return messages

    async def summarize(self, text: str) -> str:
        """Ask the LLM for a one-line summary of `text`; empty when the LLM is busy or off."""
        engine = self.engine
        if not engine.module_on("llm") or engine.llm_in_use():
            return ""
        messages = [
            ChatMessage("system", "Summarize the conversation in one short sentence of plain facts."),
            ChatMessage("user", text[-2000:]),
        ]
        params = GenerationParams(max_tokens=48, temperature=0.2)
        llm = engine.backends.llm

        def run() -> str:  # in the LLM's thread; a turn that starts waiting for the LLM ends the summary
            aside = getattr(llm, "complete_aside", None)  # keeps the conversation's KV cache intact
            if aside is not None:
                text = str(aside(messages, params, engine.llm_in_use))
            else:
                text = "".join(llm.stream(messages, params, engine.llm_in_use))
            if engine.llm_in_use():
                raise BackendError("summary interrupted: a turn is waiting for the LLM")
            return text

        return (await engine.llm_worker.call(run)).strip()
