"""Cuts streaming LLM text into speakable chunks: the first complete clause as early as possible."""

from __future__ import annotations

import re

from kitsu_tui.engine.endpoint import DANGLING

_SENTENCE_END = ".!?…"
_CLAUSE_END = ",;:—"
_CLOSERS = "\"')]}»”’*~"
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "prof", "mt", "no", "vol", "fig", "approx", "inc", "ltd", "co"]
)
_SPACE = re.compile(r"\s")
#: Words a long first chunk is cut before when no punctuation came: a phrase starts there, so a speaker pauses.
PHRASE_STARTS = frozenset(["and", "but", "or", "because", "that", "which", "who", "whose", "when", "while",
                           "if", "to", "in", "on", "at", "for", "with", "about", "from", "of", "as", "than",
                           "without", "since", "until", "after", "before", "where", "how", "what", "why"])
#: Words a chunk never ends on (a cut after them leaves a dangling "the" or "my" in the voice).
NO_LAST = DANGLING | frozenset(["this", "these", "those", "no", "i", "i'm", "you", "it's", "there", "being"])
_WORD_AT = re.compile(r"\s+([A-Za-z']+)(?=\s)")


class SentenceChunker:
    """Accumulates tokens and releases chunks at sentence ends, or clause ends for the first chunk.

    A sentence end is only trusted once the next character is seen (lookahead), so "$29.99",
    "Dr. Fox" and "e.g. this" are not cut.
    """

    def __init__(self, first_chunk_min_chars: int = 3, max_chunk_chars: int = 220,
                 first_chunk_max_chars: int = 48, first_phrase_chars: int = 24) -> None:
        self.first_chunk_min_chars = first_chunk_min_chars
        self.max_chunk_chars = max_chunk_chars
        self.first_chunk_max_chars = max(first_chunk_min_chars + 1, first_chunk_max_chars)
        self.first_phrase_chars = first_phrase_chars
        """A first chunk this long with no punctuation yet is cut before the next phrase ("... know | when ...");
        0 turns the phrase cut off."""
        self._buffer = ""
        self._emitted = 0

    def reset(self) -> None:
        """Forget everything (called on interrupt and at the start of a turn)."""
        self._buffer = ""
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        """Add streamed text; return the chunks that are now complete."""
        self._buffer += text
        chunks: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            chunk, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if _speakable(chunk):
                chunks.append(chunk)
                self._emitted += 1
        return chunks

    def flush(self) -> list[str]:
        """Return whatever is left as a final chunk (end of the LLM stream)."""
        rest, self._buffer = self._buffer.strip(), ""
        if _speakable(rest):
            self._emitted += 1
            return [rest]
        return []

    def _find_cut(self) -> int | None:
        buf = self._buffer
        min_chars = self.first_chunk_min_chars if self._emitted == 0 else max(self.first_chunk_min_chars, 24)
        phrase = self._phrase_cut(buf) if self._emitted == 0 and self.first_phrase_chars > 0 else None
        for i, ch in enumerate(buf):
            if phrase is not None and i >= phrase:
                return phrase  # a phrase starts before any punctuation
            if i + 1 >= len(buf):
                break  # need lookahead
            nxt = buf[i + 1]
            if ch in _SENTENCE_END:
                end = i + 1
                while end < len(buf) and buf[end] in _CLOSERS + _SENTENCE_END:
                    end += 1
                if end >= len(buf):
                    return None  # closers/ellipsis may continue
                if _SPACE.match(buf[end]) and not self._is_abbreviation(buf, i) and len(buf[:end].strip()) >= 2:
                    return end
            elif ch in _CLAUSE_END and _SPACE.match(nxt) and self._emitted == 0:
                if len(buf[: i + 1].strip()) >= min_chars:
                    return i + 1
            elif ch == "\n" and buf[: i + 1].strip():
                return i + 1
        if self._emitted == 0 and self._first_ends_here(buf, min_chars):
            return len(buf)  # no cut before the end: the first chunk goes without waiting a token for the lookahead
        limit = self.first_chunk_max_chars if self._emitted == 0 else self.max_chunk_chars
        if len(buf) > limit:  # no punctuation in sight: cut at a word boundary so speech can start
            return _word_cut(buf, limit)
        return None

    def _phrase_cut(self, buf: str) -> int | None:
        """Where a long unpunctuated first chunk ends: before a whole word that starts a phrase, once the chunk is
        first_phrase_chars long, holds three words and does not end on "the" or "my"; None when there is none yet."""
        for match in _WORD_AT.finditer(buf, self.first_phrase_chars):
            if match.group(1).lower() not in PHRASE_STARTS:
                continue
            head = buf[: match.start()].split()
            if len(head) >= 3 and head[-1].lower() not in NO_LAST:
                return match.start()
        return None

    @staticmethod
    def _first_ends_here(buf: str, min_chars: int) -> bool:
        """The buffer ends a first chunk for sure: "," after a word (clause), or "!" "?" after a word with no quote
        left open. A "." still waits for the next character ($29.99, Dr. Fox), and so does "!" inside a quote."""
        text = buf.strip()
        if len(text) < 2 or buf[-1] != text[-1] or not text[-2].isalpha():
            return False
        if text[-1] == ",":
            return len(text) >= min_chars
        return text[-1] in "!?" and text.count('"') % 2 == 0 and text.count("“") == text.count("”")

    @staticmethod
    def _is_abbreviation(buf: str, dot: int) -> bool:
        if buf[dot] != ".":
            return False
        start = dot
        while start > 0 and (buf[start - 1].isalpha() or buf[start - 1] == "."):
            start -= 1
        word = buf[start:dot].lower()
        dotted = "." in word and all(len(part) <= 1 for part in word.split("."))  # e.g. p.m. U.S.
        return word in _ABBREVIATIONS or dotted or (len(word) == 1 and word.isalpha() and word != "i")


def ends_sentence(chunk: str) -> bool:
    """Whether a chunk closes its sentence (. ! ? or …, before any closing quote or bracket)."""
    return chunk.rstrip(_CLOSERS + " ").endswith(tuple(_SENTENCE_END))


def _word_cut(buf: str, limit: int) -> int:
    """A word boundary before `limit` that does not leave "the" or "my" last (the last boundary when every one does)."""
    last = space = buf.rfind(" ", 0, limit)
    while space > 0 and (buf[:space].split() or [""])[-1].lower() in NO_LAST:
        space = buf.rfind(" ", 0, space)
    return space if space > 0 else last if last > 0 else limit


def _speakable(chunk: str) -> bool:
    """True when the chunk holds at least one letter or digit (never speak bare punctuation)."""
    return any(ch.isalnum() for ch in chunk)
