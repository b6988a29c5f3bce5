"""Summaries of a stretch of conversation: the transcript given to the LLM, a junk check, and an extractive fallback."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WORD_RE = re.compile(r"[^\W\d_][\w']+", re.UNICODE)
_TAG_RE = re.compile(r"\[[^\]\n]{0,40}\]|\*[^*\n]{0,40}\*")
_PREFIX_RE = re.compile(r"^\s*(?:summary|here is (?:a|the) summary)\s*[:\-]\s*", re.IGNORECASE)
_SPEAKER_RE = re.compile(r"^[\w .'-]{1,30}:\s")
_MAX_SUMMARY_CHARS = 600
SELF_QUOTE_WORDS = 6
"""A summary sharing this many consecutive words with one of the persona's lines quotes it (and is rejected)."""

#: Common English words that say nothing about the topic of a conversation.
_STOPWORDS_TEXT = """a about above after again all also am an and any are as at be because been before being but by can
    could did do does doing don't down each even ever for from get go going got had has have having he her
    here hers him his how i i'm if in into is it it's its just know like lol me more most my no not now of
    off oh ok okay on once one only or other our out over really right said say see she should so some
    still such than that that's the their them then there these they thing things think this those to too
    up us very want was we well were what when where which while who why will with would yeah yes you
    you're your yours hi hello hey thanks thank please"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """One stored message as the summarizer sees it."""

    row: int
    ts: float
    role: str
    text: str
    author: str = ""

    @property
    def speaker(self) -> str:
        """Who said it, as written in transcripts and summaries."""
        if self.role == "assistant":
            return "You"
        return self.author or ("Viewer" if self.role == "user" else self.role.capitalize())


def transcript(turns: list[StoredTurn]) -> str:
    """The turns as "speaker: text" lines, the input of an LLM summary."""
    return "\n".join(f"{turn.speaker}: {turn.text}" for turn in turns)


def keywords(texts: list[str], limit: int = 4) -> list[str]:
    """The most frequent meaningful words, ties broken by first appearance (deterministic)."""
    counts: Counter[str] = Counter()
    for text in texts:
        for word in _WORD_RE.findall(_TAG_RE.sub(" ", text).lower()):
            word = word.strip("'")
            if len(word) >= 4 and word not in STOPWORDS:
                counts[word] += 1
    return [word for word, _ in counts.most_common(limit)]


def _clip(text: str, limit: int = 80) -> str:
    """Shorten `text` at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def extractive_summary(turns: list[StoredTurn]) -> str:
    """A deterministic summary: who talked and the main topic words.

    It quotes nobody: a quoted line of the persona's comes back as the same line in a later reply, and a
    `name said: "..."` line teaches the model to invent dialogue.
    """
    if not turns:
        return ""
    viewers = list(dict.fromkeys(t.speaker for t in turns if t.role != "assistant"))
    who = ", ".join(viewers[:3]) + (" and others" if len(viewers) > 3 else "") if viewers else "chat"
    topics = keywords([t.text for t in turns], limit=6)
    return f"Talked with {who}" + (f" about {', '.join(topics)}." if topics else ".")


def _word_runs(text: str, n: int = SELF_QUOTE_WORDS) -> set[tuple[str, ...]]:
    """Every run of `n` consecutive lower-case words."""
    words = [w.strip("'") for w in _WORD_RE.findall(_TAG_RE.sub(" ", text).lower())]
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def quotes_assistant(text: str, turns: list[StoredTurn]) -> bool:
    """True when `text` repeats SELF_QUOTE_WORDS or more consecutive words of one of the persona's turns."""
    runs = _word_runs(text)
    return bool(runs) and any(runs & _word_runs(t.text) for t in turns if t.role == "assistant")


def clean_summary(text: str | None, turns: list[StoredTurn] | None = None) -> str | None:
    """The LLM's summary tidied up, or None when it is junk.

    Junk: empty, too short, repetitive, not words, a chat line ("Name: ...") instead of a summary,
    or (given the summarized `turns`) sharing none of their topic words or quoting one of the persona's lines.
    """
    if not text:
        return None
    text = _PREFIX_RE.sub("", _TAG_RE.sub("", text)).strip().strip('"').strip()
    text = " ".join(text.split())
    words = _WORD_RE.findall(text.lower())
    if len(text) < 12 or len(words) < 3 or _SPEAKER_RE.match(text):
        return None
    if turns and not set(keywords([t.text for t in turns], limit=12)) & {w.strip("'") for w in words}:
        return None
    if turns and quotes_assistant(text, turns):
        return None
    if len(set(words)) / len(words) < 0.4:  # looping output: "the the the..."
        return None
    letters = sum(c.isalpha() for c in text)
    if letters / len(text) < 0.6:
        return None
    return _clip(text, _MAX_SUMMARY_CHARS)
