"""The chat input and its tiny command language: plain text, /say TEXT, /persona NAME, /help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Input

from kitsu_tui.tui.text import clean

PLACEHOLDER = "talk to kitsu · /say TEXT speaks it · /persona NAME · /help"


@dataclass(frozen=True)
class ChatCommand:
    """What a submitted line asks for: kind is text, say, persona, help or error (arg = text or message)."""

    kind: str
    arg: str = ""


def parse_chat(line: str) -> ChatCommand:
    """Parse one submitted line; unknown slash commands and missing arguments give a readable error."""
    line = clean(line).strip()
    if not line:
        return ChatCommand("empty")
    if not line.startswith("/") or line.startswith("//"):
        return ChatCommand("text", line[1:] if line.startswith("//") else line)
    name, _, arg = line[1:].partition(" ")
    arg = arg.strip()
    name = name.lower()
    if name == "say":
        return ChatCommand("say", arg) if arg else ChatCommand("error", "/say needs text: /say Hello chat!")
    if name == "persona":
        return ChatCommand("persona", arg) if arg else ChatCommand("error", "/persona needs a name: /persona calm")
    if name in ("help", "?"):
        return ChatCommand("help")
    return ChatCommand("error", f"unknown command /{name}: use /say TEXT, /persona NAME or /help (// sends a literal /)")


class ChatInput(Input):
    """The operator's line editor; submission is handled by the app."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(placeholder=PLACEHOLDER, id=id, classes=classes)
