"""Builds LLM prompts with a stable prefix (persona + examples) so llama.cpp reuses its KV cache."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.engine.events import Source

if TYPE_CHECKING:
    from kitsu_tui.engine.engine import Engine
    from kitsu_tui.engine.turns import Turn

log = logging.getLogger(__name__)

NOTES_MAX_CHARS = 400
"""Remembered notes are re-read by the LLM each time they change: keep them short (prefill ~250 tok/s)."""
STOP_SEQUENCES = ("\n\n", "\nUser:", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "\nuser:", "\nViewer:",
                  "\nAssistant:", "\nassistant:", "\nChat:")
"""Role markers and speaker labels that end a reply: past them the model writes the next turn itself.
OpenAI's API takes four stop strings: the persona's own come first, then these in this order."""
SELF_QUOTE_WORDS = 6
"""A note sharing this many consecutive words with one of the persona's recent replies is a self-quote."""

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")
_TURN_NOTE_RE = re.compile(r"^(?P<speaker>[^\s:]{1,40}): (?P<text>.+)$", re.DOTALL)
_NOTE_WORD_RE = re.compile(r"[a-z0-9']+")


def _word_runs(text: str, n: int = SELF_QUOTE_WORDS) -> set[tuple[str, ...]]:
    """Every run of `n` consecutive lower-case words in `text`."""
    words = _NOTE_WORD_RE.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def note_for_prompt(note: str, own_lines: Iterable[str]) -> str | None:
    """A recalled memory as the model may read it, or None when it must not be shown.

    The persona's own earlier lines ("You: ...", or any note quoting one of `own_lines`) are never fed back:
    a small model repeats what it reads. A viewer's recalled line loses its "login: " label, which the model
    would copy as a transcript line.
    """
    note = " ".join(note.split())
    match = _TURN_NOTE_RE.match(note)
    if match is not None:
        if match.group("speaker") == "You":
            return None
        note = f"Earlier in chat: {match.group('text')}"
    runs = _word_runs(note)
    if runs and any(runs & _word_runs(line) for line in own_lines):
        return None
    return note


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
        own_lines = [*self.engine.recent_replies, *(text for role, text in self.engine.history if role == "assistant")]
        shown = (note_for_prompt(n, own_lines) for n in notes if n.strip())
        kept, size = [], 0
        for note in dict.fromkeys(n for n in shown if n):
            if size + len(note) > NOTES_MAX_CHARS:
                break
            kept.append(note)
            size += len(note)
        self._notes = kept

    async def messages(self, turn: Turn) -> list[ChatMessage]:
        """The full prompt for a turn: the cached conversation plus the new input as a plain user message.

        The viewer's login is never in the text: a small model reads it out, or copies "login: text" as a
        transcript line (and echoes "(I'm login)" too). It travels as the message's `name`, which OpenAI-style
        servers show the model and SmolLM2's template leaves out; a reply may say it only to greet them.
        """
        messages = await self.conversation()
        name = _NAME_RE.sub("_", turn.author)[:64] if turn.source == Source.CHAT else ""
        messages.append(ChatMessage("user", turn.text, name=name))
        return messages

    def stop_sequences(self) -> tuple[str, ...]:
        """Stop strings for a reply: role markers, speaker labels (the persona's own too) and the persona's extras."""
        persona = self.engine.persona
        labels = [f"\n{name}:" for name in dict.fromkeys((persona.name, persona.shown_name))]
        return tuple(dict.fromkeys([*persona.llm.stop, *STOP_SEQUENCES[:2], *labels, *STOP_SEQUENCES[2:]]))

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
