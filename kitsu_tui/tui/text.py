"""Turn untrusted text (chat, ASR, LLM output, reasons) into plain rich Text that cannot drive the terminal."""

from __future__ import annotations

import re

from rich.text import Text

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and C1 CSI/OSC forms.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: ESC[2J, ESC[31m ...
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: ESC]0;title BEL, hyperlinks ...
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS/SOS/PM/APC strings
    r"|\x1b[@-Z\\-_]?"  # any other escape (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?"  # 8-bit OSC
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str, keep_newlines: bool = False) -> str:
    """Remove escape sequences and control characters; tabs become spaces, newlines optionally kept."""
    text = _ESCAPES.sub("", text).replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    return text if keep_newlines else text.replace("\n", " ")


def plain(text: str, style: str = "", keep_newlines: bool = False) -> Text:
    """A rich Text holding `text` literally: no markup parsing, no escape sequences."""
    return Text(clean(text, keep_newlines), style=style)


def shorten(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
