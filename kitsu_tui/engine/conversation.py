"""The conversation: clean history, recalled notes, prompts with a stable prefix, and what memory keeps."""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from kitsu_tui.backends.base import (
    AsideCompletion,
    BackendError,
    Backends,
    ChatMessage,
    GenerationParams,
    PromptPrefill,
)
from kitsu_tui.backends.worker import ModelWorker
from kitsu_tui.engine.events import Event, Source, StageError
from kitsu_tui.engine.hygiene import RECENT_REPLIES
from kitsu_tui.engine.prompt import NOTES_MAX_CHARS, note_for_prompt, stop_sequences
from kitsu_tui.engine.turn import Turn

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona
    from kitsu_tui.config.settings import Settings
    from kitsu_tui.engine.api import Memory

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


class Conversation:
    """Owns history, recent replies and recalled notes; builds every prompt and keeps the LLM's cache warm."""

    def __init__(self, settings: Settings, persona: Callable[[], Persona], backends: Backends,
                 llm_worker: ModelWorker, io_worker: ModelWorker, emit: Callable[[Event], None],
                 llm_ready: Callable[[], bool], llm_wanted: Callable[[], bool]) -> None:
        self.settings = settings
        self._persona = persona
        self._backends = backends
        self._llm_worker = llm_worker
        self._io_worker = io_worker
        self._emit = emit
        self._llm_ready = llm_ready
        """The LLM is loaded and switched on."""
        self._llm_wanted = llm_wanted
        """A turn is waiting for or using the LLM (side work stops for it; safe to call from the LLM's thread)."""
        self.memory: Memory | None = None
        self.history: list[tuple[str, str]] = []
        self.recent_replies: deque[str] = deque(maxlen=RECENT_REPLIES)
        """What the persona said in its last replies (the repetition guard drops sentences said again)."""
        self._cache_key: tuple[int, str] | None = None
        self._prefix: list[ChatMessage] = []
        self._notes: list[str] = []
        self._prefilling = False
        """A partial transcript is being read into the LLM's cache (at most one at a time)."""

    # --- prompts ----------------------------------------------------------------------------

    async def prefix(self) -> list[ChatMessage]:
        """The part of every prompt that never changes for a persona (cached)."""
        persona = self._persona()
        key = (id(persona), persona.name)
        if key != self._cache_key:
            system = await self._io_worker.call(persona.build_system_prompt, self.settings.paths.prompts_dir)
            messages = [ChatMessage("system", system or f"You are {persona.shown_name}, a VTuber.")]
            for example in persona.examples:
                messages.append(ChatMessage("user", example.user))
                messages.append(ChatMessage("assistant", example.assistant))
            self._prefix, self._cache_key = messages, key
        return list(self._prefix)

    async def conversation(self, history: list[tuple[str, str]] | None = None) -> list[ChatMessage]:
        """Prefix, history and remembered notes: what the next prompt starts with (kept in the KV cache)."""
        messages = await self.prefix()
        messages.extend(ChatMessage(role, text) for role, text in (self.history if history is None else history))
        if self._notes:
            messages.append(ChatMessage("system", "Things you remember:\n- " + "\n- ".join(self._notes)))
        return messages

    async def messages(self, turn: Turn) -> list[ChatMessage]:
        """The full prompt for a turn: the cached conversation plus the new input as a plain user message.

        The viewer's login is never in the text: a small model reads it out, or copies "login: text" as a
        transcript line. It travels as the message's `name`, which OpenAI-style servers show the model and
        SmolLM2's template leaves out; a reply may say it only to greet them.
        """
        messages = await self.conversation()
        name = _NAME_RE.sub("_", turn.author)[:64] if turn.source == Source.CHAT else ""
        messages.append(ChatMessage("user", turn.text, name=name))
        return messages

    async def prefill(self, partial: str) -> int:
        """While the person still talks: read the conversation and the words heard so far (all but the last, which
        may still change) into the LLM's cache, so the reply started on the final transcript reads only the rest.

        Skipped when the LLM is off, a turn wants it, a prefill is already running, or the LLM cannot do it.
        Returns the tokens read.
        """
        llm = self._backends.llm
        words = partial.split()[:-1]
        if (len(words) < 2 or self._prefilling or not self._llm_ready() or self._llm_wanted()
                or not isinstance(llm, PromptPrefill)):
            return 0
        self._prefilling = True
        try:
            messages = await self.conversation()
            messages.append(ChatMessage("user", " ".join(words)))
            return await self._llm_worker.call(llm.prefill, messages)
        except Exception:
            log.debug("prefilling the partial transcript failed", exc_info=True)
            return 0
        finally:
            self._prefilling = False

    def stop_sequences(self) -> tuple[str, ...]:
        """Stop strings for a reply: role markers, speaker labels (the persona's own too) and the persona's extras."""
        return stop_sequences(self._persona())

    async def refresh_notes(self, topic: str, exclude_recent: int | None = None) -> None:
        """Recall memory for the conversation's current topic, ahead of the next turn (so it can be cached)."""
        if self.memory is None:
            self._notes = []
            return
        if exclude_recent is None:
            exclude_recent = len(self.history)
        try:
            recalled = []
            if topic.strip():
                recalled = await self.memory.recall(topic, self.settings.memory.recall_limit, exclude_recent)
            notes = [*await self.memory.restored_context(), *recalled]
        except Exception:
            log.exception("memory recall failed")
            return
        own_lines = [*self.recent_replies, *(text for role, text in self.history if role == "assistant")]
        shown = (note_for_prompt(n, own_lines) for n in notes if n.strip())
        kept, size = [], 0
        for note in dict.fromkeys(n for n in shown if n):
            if size + len(note) > NOTES_MAX_CHARS:
                break
            kept.append(note)
            size += len(note)
        self._notes = kept

    async def summarize(self, text: str) -> str:
        """Ask the LLM for a one-line summary of `text`; empty when the LLM is busy or off."""
        if not self._llm_ready() or self._llm_wanted():
            return ""
        messages = [
            ChatMessage("system", "Summarize the conversation in one short sentence of plain facts."),
            ChatMessage("user", text[-2000:]),
        ]
        params = GenerationParams(max_tokens=48, temperature=0.2)
        llm, wanted = self._backends.llm, self._llm_wanted

        def run() -> str:  # in the LLM's thread; a turn that starts waiting for the LLM ends the summary
            if isinstance(llm, AsideCompletion):  # keeps the conversation's KV cache intact
                text = str(llm.complete_aside(messages, params, wanted))
            else:
                text = "".join(llm.stream(messages, params, wanted))
            if wanted():
                raise BackendError("summary interrupted: a turn is waiting for the LLM")
            return text

        return (await self._llm_worker.call(run)).strip()

    # --- after a turn -------------------------------------------------------------------------

    def next_history(self, turn: Turn, spoken: str) -> list[tuple[str, str]]:
        """The history once `turn` is over and `spoken` was heard."""
        history = list(self.history)
        if turn.source != Source.SAY:
            history.append(("user", turn.text))  # no "login: text" line: the model would copy the label
        if spoken:
            history.append(("assistant", spoken))
        keep = max(2, self.settings.llm.history_turns * 2)
        if len(history) > keep:
            # Trim in blocks, not one exchange per turn: the prompt prefix (and llama.cpp's KV cache of it)
            # then stays valid for several turns instead of being re-read in full on every turn.
            del history[: len(history) - max(2, keep // 2)]
        return history

    async def remember(self, turn: Turn, spoken: str) -> None:
        """Keep a finished turn: history (unless kept out), recent replies, and memory (only what was heard)."""
        if not turn.kept_out:
            # A blocked, held or dumped sentence: the exchange that provoked it never returns to the LLM.
            self.history[:] = self.next_history(turn, spoken)
        if spoken:
            self.recent_replies.append(spoken)
        if self.memory is None:
            return
        try:
            if turn.source != Source.SAY and not turn.kept_out:
                await self.memory.add_turn(turn.turn_id, "user", turn.text, str(turn.source), turn.author)
            if spoken or not turn.kept_out:
                await self.memory.add_turn(turn.turn_id, "assistant", spoken, str(turn.source))
            if not turn.prepared:  # otherwise the summary runs while the next reply plays
                await self.memory.maybe_summarize(self.summarize)
        except Exception as exc:
            log.exception("memory write failed")
            self._emit(StageError(turn_id=turn.turn_id, stage="memory", message=str(exc)))

    async def prepare_next(self, turn: Turn, spoken: str) -> None:
        """While a reply plays (its LLM and TTS work done): write a due memory summary, then fill the LLM's cache
        with the conversation as it will be once `spoken` has been heard.

        Done after the turn instead, either could hold the LLM for seconds just as the next message arrives.
        """
        if not self._llm_ready():
            return
        try:
            if self.memory is not None:
                await self.memory.maybe_summarize(self.summarize)
            if self._llm_wanted():
                return  # the next turn is already here: it needs the LLM now
            history = list(self.history) if turn.kept_out else self.next_history(turn, spoken)
            stored = 0 if turn.kept_out else int(turn.source != Source.SAY) + int(bool(spoken))  # rows memory adds
            await self.refresh_notes(f"{turn.text} {spoken}", exclude_recent=len(history) - stored)
            await self._llm_worker.call(self._backends.llm.warm, await self.conversation(history))
            turn.warmed_for = spoken
        except Exception:
            log.warning("preparing the next turn failed", exc_info=True)

    async def warm(self, topic: str = "") -> None:
        """Recall memory for the topic and pre-fill the LLM's KV cache with the conversation."""
        try:
            await self.refresh_notes(topic)
            await self._llm_worker.call(self._backends.llm.warm, await self.conversation())
        except Exception:
            log.warning("LLM warm-up failed", exc_info=True)

    def restart(self) -> None:
        """A new persona: the history starts over (its prefix is rebuilt on the next prompt)."""
        self.history.clear()
