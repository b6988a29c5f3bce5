"""Fixtures shared by the backend tests: the shipped persona's prompt prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitsu_tui.backends.base import ChatMessage
from kitsu_tui.config.persona import load_persona

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def persona_prompt() -> list[ChatMessage]:
    """The shipped persona's cached prompt prefix (system prompt and examples), as a show's first turn sees it."""
    persona = load_persona(ROOT / "personas", "kitsu", ROOT / "prompts")
    messages = [ChatMessage("system", persona.build_system_prompt(ROOT / "prompts"))]
    for example in persona.examples:
        messages += [ChatMessage("user", example.user), ChatMessage("assistant", example.assistant)]
    return messages
