"""Speakability: which writing systems a voice's language can read aloud, and text cleaned for that voice."""

from __future__ import annotations

import re
import unicodedata

from kitsu_tui.safety.normalize import fold

#: Scripts (the first word of a letter's Unicode name) each language's voices read; Latin is always allowed
#: (names, game titles and "lol" appear in every language's chat).
LANGUAGE_SCRIPTS: dict[str, frozenset[str]] = {
    "ru": frozenset({"CYRILLIC"}), "uk": frozenset({"CYRILLIC"}), "bg": frozenset({"CYRILLIC"}),
    "sr": frozenset({"CYRILLIC"}), "kk": frozenset({"CYRILLIC"}), "el": frozenset({"GREEK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH", "FULLWIDTH"}),
    "zh": frozenset({"CJK", "FULLWIDTH"}), "ko": frozenset({"HANGUL", "CJK"}),
    "ar": frozenset({"ARABIC"}), "fa": frozenset({"ARABIC"}), "he": frozenset({"HEBREW"}),
    "hi": frozenset({"DEVANAGARI"}), "th": frozenset({"THAI"}), "ka": frozenset({"GEORGIAN"}),
    "hy": frozenset({"ARMENIAN"}),
}
_LOOKALIKE_SCRIPTS = frozenset({"CYRILLIC", "GREEK"})
_ZALGO_RE = re.compile(r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{2,}")
_WORD_RE = re.compile(r"\w+")


def script_of(char: str) -> str:
    """The script of a letter ("LATIN", "CYRILLIC", "CJK"...), from its Unicode name."""
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def allowed_scripts(language: str) -> frozenset[str]:
    """The scripts a voice for `language` (an ISO code such as "en" or "en_US") can read, Latin included."""
    base = language.lower().replace("-", "_").split("_", 1)[0]
    return LANGUAGE_SCRIPTS.get(base, frozenset()) | {"LATIN"}


def _fold_mixed_word(word: str, allowed: frozenset[str]) -> str:
    """A word mixing Latin with Cyrillic/Greek look-alikes ("hеllo") spelled in Latin letters only."""
    scripts = {script_of(c) for c in word if c.isalpha()}
    if "LATIN" in scripts and scripts & _LOOKALIKE_SCRIPTS and not scripts & allowed - {"LATIN"}:
        return fold(word)
    return word


def speakable(text: str, language: str, max_foreign_share: float = 0.2) -> tuple[str, str]:
    """(text cleaned for the voice, reason it cannot be spoken or "").

    Zalgo marks are dropped, look-alike letters inside Latin words are folded to Latin, and a few stray
    foreign letters are removed; a sentence with more foreign letters than max_foreign_share (or 4+) is refused.
    """
    if text.isascii():
        return text, ""  # nothing to fold, drop or refuse (the usual case: keep the per-sentence path short)
    allowed = allowed_scripts(language)
    text = _ZALGO_RE.sub("", text)
    text = _WORD_RE.sub(lambda m: _fold_mixed_word(m.group(0), allowed), text)
    letters = [c for c in text if c.isalpha()]
    foreign = [c for c in letters if script_of(c) not in allowed]
    if not foreign:
        return text, ""
    scripts = sorted({script_of(c).lower() for c in foreign})
    if len(foreign) >= 4 or len(foreign) > max_foreign_share * len(letters):
        return text, f"{len(foreign)} of {len(letters)} letters in {'/'.join(scripts)}, which a {language} voice cannot read"
    kept = "".join(c for c in text if not (c.isalpha() and script_of(c) not in allowed))
    return " ".join(kept.split()), ""


def foreign_share(text: str, language: str) -> float:
    """The share of letters in scripts the language's voice cannot read (0 when there are no letters)."""
    if text.isascii():
        return 0.0
    allowed = allowed_scripts(language)
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    folded = _WORD_RE.sub(lambda m: _fold_mixed_word(m.group(0), allowed), text)
    return sum(1 for c in folded if c.isalpha() and script_of(c) not in allowed) / max(1, len(letters))
