"""Pure prompt rules: which recalled notes the model may read, and the stop strings that end a reply."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kitsu_tui.config.persona import Persona

NOTES_MAX_CHARS = 400
"""Remembered notes are re-read by the LLM each time they change: keep them short (prefill ~250 tok/s)."""
STOP_SEQUENCES = ("\n\n", "\nUser:", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "\nuser:", "\nViewer:",
                  "\nAssistant:", "\nassistant:", "\nChat:")
"""Role markers and speaker labels that end a reply: past them the model writes the next turn itself.
OpenAI's API takes four stop strings: the persona's own come first, then these in this order."""
SELF_QUOTE_WORDS = 6
"""A note sharing this many consecutive words with one of the persona's recent replies is a self-quote."""

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


def stop_sequences(persona: Persona) -> tuple[str, ...]:
    """Stop strings for a reply: role markers, speaker labels (the persona's own too) and the persona's extras."""
    labels = [f"\n{name}:" for name in dict.fromkeys((persona.name, persona.shown_name))]
    return tuple(dict.fromkeys([*persona.llm.stop, *STOP_SEQUENCES[:2], *labels, *STOP_SEQUENCES[2:]]))
