"""Sentence/clause chunker units: early first clause, lookahead at sentence ends, nothing unspeakable."""

from __future__ import annotations

from kitsu_tui.engine.chunker import SentenceChunker


def feed_tokens(chunker: SentenceChunker, text: str) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        out += chunker.feed(word if i == 0 else " " + word)
    return out + chunker.flush()


def test_first_clause_starts_speech_then_whole_sentences() -> None:
    chunks = feed_tokens(SentenceChunker(), "Oh wow, a visitor in my den, hello there! I love it, really I do. Bye.")
    assert chunks == ["Oh wow, a visitor in my den,", "hello there!", "I love it, really I do.", "Bye."]


def test_sentence_end_needs_lookahead() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("It costs $29.") == []  # could still be $29.99
    assert chunker.feed("99 today. Next") == ["It costs $29.99 today."]
    assert chunker.flush() == ["Next"]
    chunker.reset()
    assert chunker.feed("Hello there!") == []
    assert chunker.feed(" Next") == ["Hello there!"]


def test_abbreviations_and_initials_do_not_cut() -> None:
    chunks = feed_tokens(SentenceChunker(), "Dr. Fox met Mr. Tanuki at 3 p.m. yesterday, e.g. at the shrine. Then home.")
    assert chunks == ["Dr. Fox met Mr. Tanuki at 3 p.m. yesterday,", "e.g. at the shrine.", "Then home."]


def test_long_first_sentence_without_punctuation_is_cut_at_a_word() -> None:
    text = "so there I was running through the forest at night looking for the moon and my lost tail again"
    chunks = feed_tokens(SentenceChunker(first_chunk_max_chars=40), text)
    assert len(chunks[0]) <= 40 and not chunks[0].endswith(" ") and text.startswith(chunks[0])
    assert " ".join(chunks) == text


def test_bare_punctuation_and_whitespace_are_never_chunks() -> None:
    chunker = SentenceChunker()
    assert feed_tokens(chunker, "... !!! ?") == []
    assert chunker.flush() == []


def test_ellipsis_and_closing_quotes_stay_with_their_sentence() -> None:
    chunks = feed_tokens(SentenceChunker(), 'She said "no way!" and left... Then silence.')
    assert chunks == ['She said "no way!"', "and left...", "Then silence."]
