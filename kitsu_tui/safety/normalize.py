"""Text normalisation for moderation: strip control tricks, fold homoglyphs and leetspeak, rejoin spaced letters."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")
_SPACE_RE = re.compile(r"\s+")
_TOKEN_RE = re.compile(r"[a-z0-9@$!|+*#]+")
_SQUEEZE_RE = re.compile(r"(.)\1+")
_LONG_RUN_RE = re.compile(r"(.)\1{2,}")

#: Characters that look like Latin letters (Cyrillic, Greek, IPA, small caps, stroked letters).
_HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a", "б": "b", "в": "b", "г": "r", "д": "d", "е": "e", "ё": "e", "ж": "x", "з": "3", "и": "u",
    "к": "k", "л": "n", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ц": "u", "ч": "4", "ш": "w", "щ": "w", "ь": "b", "ы": "bi", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ү": "y", "ҡ": "k", "ӑ": "a",
    # Greek
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "λ": "l",
    "μ": "u", "ν": "v", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "φ": "o",
    "χ": "x", "ω": "w",
    # Latin look-alikes that NFKD does not decompose
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ƒ": "f", "ɑ": "a", "ɛ": "e", "ɩ": "i",
    "ʋ": "u", "ɪ": "i", "ʀ": "r", "ȷ": "j", "ɢ": "g", "ʜ": "h", "ʟ": "l", "ɴ": "n", "ʏ": "y", "ꜱ": "s",
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o",
    "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "æ": "ae", "œ": "oe", "þ": "p",
    "€": "e", "£": "l", "¥": "y", "¡": "i", "×": "x",
    # more look-alikes used by "fancy text" generators (Cyrillic/Greek extras, IPA, Canadian syllabics)
    "ԍ": "g", "ϝ": "f", "ϲ": "c", "ϳ": "j", "ѵ": "v", "ʂ": "s", "ɾ": "r", "ɼ": "r", "ƙ": "k", "ɦ": "h",
    "ɱ": "m", "ɲ": "n", "ŋ": "n", "ƥ": "p", "ʠ": "q", "ʈ": "t", "ɣ": "y", "ƶ": "z", "ȥ": "z", "ꞵ": "b",
    "ɓ": "b", "ɗ": "d", "ƈ": "c", "ɠ": "g", "ɨ": "i", "ɵ": "o", "ʉ": "u", "ⱬ": "z", "ꝺ": "d", "ꞡ": "g",
    "ᑎ": "n", "ᗩ": "a", "ᘜ": "g", "ᕮ": "e", "ᖇ": "r", "ᑕ": "c", "ᕼ": "h", "ᗪ": "d", "ᗷ": "b", "ᖴ": "f",
    "ᒍ": "j", "ᒪ": "l", "ᗰ": "m", "ᑭ": "p", "ᑫ": "q", "ᔕ": "s", "ᑌ": "u", "ᐯ": "v", "ᗯ": "w", "᙭": "x",
    "ꓮ": "a", "ꓐ": "b", "ꓚ": "c", "ꓓ": "d", "ꓰ": "e", "ꓝ": "f", "ꓖ": "g", "ꓧ": "h", "ꓲ": "i", "ꓗ": "k",
    "ꓡ": "l", "ꓟ": "m", "ꓠ": "n", "ꓑ": "p", "ꓣ": "r", "ꓢ": "s", "ꓔ": "t", "ꓴ": "u", "ꓦ": "v", "ꓪ": "w",
    "ꓫ": "x", "ꓬ": "y", "ꓜ": "z", "ɐ": "a", "ǝ": "e", "ɹ": "r", "ʇ": "t", "ʎ": "y", "ʍ": "w", "ɯ": "m",
    "ᴚ": "r", "ɔ": "c", "ǫ": "q", "ʞ": "k", "ɟ": "f", "ɥ": "h", "ᴉ": "i", "ʌ": "v", "ʃ": "s", "ɭ": "l",
}
# Enclosed and regional-indicator letters (🅰 🄰 🅐 🇦) that NFKC leaves alone.
for _start in (0x1F130, 0x1F150, 0x1F170, 0x1F1E6):
    for _offset in range(26):
        _HOMOGLYPHS[chr(_start + _offset)] = chr(ord("a") + _offset)
_FOLD_TABLE = str.maketrans(_HOMOGLYPHS)

#: Leetspeak digits and symbols inside words; "1" and "|" are tried as both i and l.
_LEET = str.maketrans({"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "6": "g",
                       "@": "a", "$": "s", "!": "i", "+": "t"})
_ONE_AS_I = str.maketrans({"1": "i", "|": "i"})
_ONE_AS_L = str.maketrans({"1": "l", "|": "l"})
_CENSOR_CHARS = "*#"
_CLAUSE_RE = re.compile(r"[.!?;:\n]+|,\s*(?=but\b|however\b|though\b|although\b|yet\b)|\b(?:but|however|although)\b")
_CONTRACTION_RE = re.compile(r"(\w)n['\u2019]t\b")


def _is_invisible(char: str) -> bool:
    """Control, format (zero-width, bidi, tag) and private-use characters, plus variation selectors."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cf", "Co", "Cs", "Cn") or "\ufe00" <= char <= "\ufe0f"


def clean_text(text: str) -> str:
    """Remove ANSI escapes, control and zero-width characters; collapse whitespace: safe to show and send on."""
    if text.isascii() and text.isprintable():
        return _SPACE_RE.sub(" ", text).strip()
    text = _ANSI_RE.sub("", text)
    kept = "".join(" " if char in "\t\n\r\x0b\x0c" else char for char in text if not _is_invisible(char) or char in "\t\n\r\x0b\x0c")
    return _SPACE_RE.sub(" ", kept).strip()


def fold(text: str) -> str:
    """Compatibility-fold, drop accents, casefold and map homoglyphs to Latin letters."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.casefold().translate(_FOLD_TABLE)


def squeeze(word: str) -> str:
    """Collapse every run of a repeated character to one ("niiiice" -> "nice")."""
    return _SQUEEZE_RE.sub(r"\1", word)


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the normalised text: its leetspeak readings and whether it hides letters behind * or #."""

    variants: tuple[str, ...]
    """Readings of the word (two when "1" or "|" may be i or l)."""
    skeletons: tuple[str, ...]
    """Each reading with repeated characters collapsed, for fast lookups."""
    censored: bool
    """The word hides letters behind * or #."""


@dataclass(frozen=True, slots=True)
class Normalized:
    """A message in the forms the matchers need."""

    tokens: tuple[Token, ...]
    """Words after leetspeak decoding, plus spaced-out letters rejoined into extra words."""
    phrases: tuple[tuple[str, str], ...]
    """(phrase, skeleton) of every run of 2-3 consecutive words, for multi-word terms."""
    forms: tuple[str, ...]
    """Whole-text forms for phrase patterns: casefolded with punctuation, words joined by single
    spaces, the same with runs of 3+ equal characters collapsed, and with spaced-out letters rejoined."""
    clauses: tuple[str, ...] = ()
    """The text split into clauses (at sentence punctuation and "but"/"however"), each as decoded words
    joined by single spaces with "n't" kept as its own word: what statement rules read."""
    reversed_tokens: tuple[Token, ...] = ()
    """Every word (and the whole squeezed text) spelled backwards, for rules that also catch reversed slurs."""


def _decode(raw: str) -> Token:
    """Read one raw token as words: leetspeak when it mixes letters and symbols, numbers left alone."""
    raw = raw.rstrip("!|+").strip(_CENSOR_CHARS) or raw
    if not any(c.isalpha() for c in raw):
        return Token((raw,), (squeeze(raw),), False)
    censored = any(c in _CENSOR_CHARS for c in raw)
    base = raw.translate(_LEET)
    variants = [base.translate(_ONE_AS_I)]
    if "1" in base or "|" in base:
        variants.append(base.translate(_ONE_AS_L))
    return Token(tuple(variants), tuple(squeeze(v) for v in variants), censored)


def _sub_runs(run: list[str], limit: int = 16) -> list[str]:
    """Every join of 3+ consecutive tokens of a spaced-out run ("s p i cs in" -> "spi", "spics", "spicsin"...)."""
    run = run[:limit]
    return ["".join(run[i:j]) for i in range(len(run)) for j in range(i + 3, len(run) + 1)]


def _rejoin(raw_tokens: list[str]) -> list[str]:
    """The token sequence with runs of 3+ one- or two-character tokens ("n i g g a", "f.u.c.k") joined."""
    joined: list[str] = []
    run: list[str] = []
    for token in [*raw_tokens, ""]:
        if token and len(token) <= 2:
            run.append(token)
            continue
        joined.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if token:
            joined.append(token)
    return joined


def normalize(text: str) -> Normalized:
    """Produce every form of `text` the term and pattern matchers look at."""
    folded = fold(clean_text(text))
    raw_tokens = _TOKEN_RE.findall(folded)
    tokens = [_decode(raw) for raw in raw_tokens]
    flat = " ".join(token.variants[0] for token in tokens)
    forms = [folded, flat, _LONG_RUN_RE.sub(r"\1", flat)]
    rejoined = _rejoin(raw_tokens)
    if len(rejoined) != len(raw_tokens):
        extra = [_decode(raw) for raw in rejoined if len(raw) > 2 and raw not in raw_tokens]
        runs: list[str] = []
        for token in [*raw_tokens, ""]:
            if token and len(token) <= 2:
                runs.append(token)
                continue
            if len(runs) >= 4:  # a spaced word may run into a short real word ("s p i cs in")
                extra += [_decode(joined) for joined in _sub_runs(runs) if joined not in rejoined]
            runs = []
        tokens += extra
        forms.append(" ".join(_decode(raw).variants[0] for raw in rejoined))
    words = [token.variants[0] for token in tokens[: len(raw_tokens)]]
    phrases = [" ".join(words[i : i + n]) for n in (2, 3) for i in range(len(words) - n + 1)]
    clauses = tuple(c for c in (_clause_words(part) for part in _CLAUSE_RE.split(folded)) if c)
    backwards = [_decode(raw[::-1]) for raw in rejoined if len(raw) > 2]
    joined = "".join(raw_tokens)
    if 2 < len(joined) <= 64:
        backwards.append(_decode(joined[::-1]))
    return Normalized(tuple(tokens), tuple((p, squeeze(p)) for p in phrases), tuple(dict.fromkeys(forms)),
                      clauses, tuple(backwards))


def _clause_words(clause: str) -> str:
    """One clause as decoded words joined by spaces ("don't" -> "do n't", "can't" -> "ca n't")."""
    clause = _CONTRACTION_RE.sub(r"\1 n't", clause.replace("\u2019", "'"))
    words = re.findall(r"n't|[a-z0-9@$!|+*#']+", clause)
    return " ".join(w if w == "n't" else _decode(w.replace("'", "")).variants[0] for w in words).strip()
