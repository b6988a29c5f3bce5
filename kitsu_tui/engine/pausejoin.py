"""Whisper stopping at a pause: tell when an utterance's transcript ends where a pause inside it began, and add the
words said after the pause, transcribed alone."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
TAIL_MIN_WORDS = 2
"""A tail transcript of fewer words is not worth adding (a breath, a click, "uh")."""
TAIL_HELD_SHARE = 0.5
"""The whole transcript already holds the tail when at least this share of the tail's words is in it."""
MIN_WORD_RATE = 2.0
"""Words per second of voiced speech below which a transcript has lost words. Whole transcripts of espeak-ng voices
at 135-195 words a minute came to 2.4-6 words a second; all 5 of 199 development-corpus transcripts below 2.0 had
dropped words ("GOT" for "go left go left", "I'm up" for "the town where I grew up")."""


def words(text: str) -> list[str]:
    """Lower-case words (letters, digits, inner apostrophes) of a transcript."""
    return _WORD.findall(text.lower())


def stopped_at_pause(whole: str, head: str) -> bool:
    """Whether the whole utterance's transcript holds at most one word more than the transcript taken in the pause:
    the speech after the pause left no trace in it ("is it true Mario?" for "is it true that you ... once stayed up
    for two whole days?"). An empty head never says so: there is nothing to compare with."""
    head_words = len(words(head))
    return head_words > 0 and len(words(whole)) <= head_words + 1


def lost_words(whole: str, voiced_s: float, rate: float = MIN_WORD_RATE) -> bool:
    """Whether the transcript holds too few words for the speech it came from: when the early transcript taken in
    the pause was garbled or cut short ("is"), this still tells that the whole one stopped at the pause."""
    return voiced_s > 0 and len(words(whole)) < rate * voiced_s


def join_tail(whole: str, tail: str) -> str | None:
    """The whole transcript with the tail's words added, or None when the tail is too short to add or the whole
    transcript already holds most of its words (it did hear the end, in other words)."""
    tail_words = words(tail)
    if len(tail_words) < TAIL_MIN_WORDS:
        return None
    held = set(words(whole))
    if sum(word in held for word in tail_words) / len(tail_words) >= TAIL_HELD_SHARE:
        return None
    return f"{whole.strip()} {tail.strip()}".strip()
