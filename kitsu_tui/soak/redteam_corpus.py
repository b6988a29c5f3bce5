"""The red-team corpus (JSON lines of chat cases with forbidden patterns): parsing, selection and matching."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATEGORIES = (
    "hate", "threat", "extremism", "self_harm", "sexual", "minors", "doxxing", "slur_obfuscation", "injection",
    "roleplay", "multi_turn", "markup", "non_latin", "ordinary",
)
"""Every category a case may have, in report order."""
ORDINARY = "ordinary"
KEYS = frozenset({"id", "category", "turns", "forbidden", "note"})

_HOMOGLYPHS = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "ғ": "f", "ԍ": "g", "һ": "h", "і": "i", "ї": "i",
    "ј": "j", "к": "k", "ӏ": "l", "м": "m", "п": "n", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t",
    "ш": "w", "х": "x", "у": "y", "Ь": "b", "ь": "b", "ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ϲ": "c", "δ": "d", "ε": "e", "ϝ": "f", "ɡ": "g", "η": "n", "ι": "i", "ϳ": "j", "κ": "k",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
    # small capitals and other Latin look-alikes
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k",
    "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w",
    "ʏ": "y", "ᴢ": "z", "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "ß": "ss",
    # typography
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g", "@": "a", "$": "s",
                       "!": "i", "|": "i", "+": "t"})
_REGIONAL_A = 0x1F1E6
_SQUARED_A = (0x1F130, 0x1F150, 0x1F170)


class CorpusError(ValueError):
    """A corpus file that cannot be used; str() names file:line and the reason."""


@dataclass(frozen=True)
class Line:
    """One chat message of a case."""

    author: str
    text: str


@dataclass(frozen=True)
class Case:
    """A red-team case: chat lines fed in order into one fresh conversation, and what must never be spoken."""

    id: str
    category: str
    turns: tuple[Line, ...]
    forbidden: tuple[re.Pattern[str], ...]
    note: str = ""
    line: int = 0


def fold(text: str) -> str:
    """Undo the usual disguises so a pattern written in plain letters also matches them.

    Full-width and math letters (NFKC), zero-width and format characters, combining marks, Cyrillic/Greek/small-cap
    look-alikes, regional-indicator and squared letters; lower-cased.
    """
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        code = ord(ch)
        if _REGIONAL_A <= code < _REGIONAL_A + 26:
            out.append(chr(ord("a") + code - _REGIONAL_A))
        elif any(start <= code < start + 26 for start in _SQUARED_A):
            start = next(s for s in _SQUARED_A if s <= code < s + 26)
            out.append(chr(ord("a") + code - start))
        elif unicodedata.category(ch) != "Cf":
            out.append(ch)
    decomposed = unicodedata.normalize("NFD", "".join(out))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower().translate(_HOMOGLYPHS)


def variants(text: str) -> tuple[str, ...]:
    """The text as spoken, folded, and folded with leetspeak digits and symbols read as letters."""
    folded = fold(text)
    return text, folded, folded.translate(_LEET)


def first_match(pattern: re.Pattern[str], text: str) -> str | None:
    """The first stretch of `text` (in any of its variants) the pattern matches, or None."""
    if not text:
        return None
    for variant in variants(text):
        found = pattern.search(variant)
        if found is not None:
            return found.group(0) or variant
    return None


def parse_case(raw: str, source: str = "<corpus>", number: int = 0) -> Case:
    """One corpus line as a Case; CorpusError naming source:number and what is wrong."""
    where = f"{source}:{number}"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: a case must be a JSON object")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise CorpusError(f"{where}: unknown key {unknown[0]!r} (a case has {', '.join(sorted(KEYS))})")
    case_id = data.get("id")
    if not isinstance(case_id, str) or not case_id.strip():
        raise CorpusError(f'{where}: "id" must be a non-empty string')
    category = data.get("category")
    if category not in CATEGORIES:
        raise CorpusError(f'{where}: "category" {category!r} is not one of {", ".join(CATEGORIES)}')
    note = data.get("note", "")
    if not isinstance(note, str):
        raise CorpusError(f'{where}: "note" must be a string')
    return Case(case_id, category, _turns(data.get("turns"), where), _patterns(data.get("forbidden"), where), note,
                number)


def _turns(value: Any, where: str) -> tuple[Line, ...]:
    """The "turns" list: one or more {"author", "text"} objects with non-empty text."""
    if not isinstance(value, list) or not value:
        raise CorpusError(f'{where}: "turns" must be a non-empty list of {{"author", "text"}} objects')
    lines = []
    for number, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or set(turn) - {"author", "text"}:
            raise CorpusError(f'{where}: turn {number} must be an object with only "author" and "text"')
        author, text = turn.get("author", ""), turn.get("text")
        if not isinstance(author, str):
            raise CorpusError(f'{where}: turn {number}: "author" must be a string')
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f'{where}: turn {number}: "text" must be a non-empty string')
        lines.append(Line(author, text))
    return tuple(lines)


def _patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    """The "forbidden" list compiled case-insensitively; a broken regex names itself and the error."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise CorpusError(f'{where}: "forbidden" must be a list of non-empty regex strings')
    compiled = []
    for pattern in value:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise CorpusError(f"{where}: forbidden pattern {pattern!r} is not a valid regex: {exc}") from None
    return tuple(compiled)


def parse_corpus(lines: Iterable[str], name: str) -> list[Case]:
    """Every case in order; blank lines are skipped; the first bad line or duplicate id raises CorpusError."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        case = parse_case(raw, name, number)
        if case.id in seen:
            raise CorpusError(f"{name}:{number}: duplicate id {case.id!r} (first on line {seen[case.id]})")
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise CorpusError(f"{name}: holds no cases")
    return cases


def read_corpus(path: Path) -> list[Case]:
    """Read and check a corpus file; CorpusError when it is missing, unreadable or has a bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read the corpus: {exc}") from None
    return parse_corpus(text.splitlines(), str(path))


def select(cases: Sequence[Case], categories: Sequence[str] = (), limit: int | None = None) -> list[Case]:
    """The cases of the given categories (all when empty), at most `limit` per category, in corpus order."""
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise CorpusError(f"unknown category {unknown[0]!r}; choose from {', '.join(CATEGORIES)}")
    taken: dict[str, int] = {}
    out = []
    for case in cases:
        if categories and case.category not in categories:
            continue
        if limit is not None and taken.get(case.category, 0) >= limit:
            continue
        taken[case.category] = taken.get(case.category, 0) + 1
        out.append(case)
    return out
