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
    assert chunks == ["Oh wow,", "a visitor in my den, hello there!", "I love it, really I do.", "Bye."]
    chunks = feed_tokens(SentenceChunker(first_chunk_min_chars=12), "Oh wow, a visitor in my den, hello there! Bye.")
    assert chunks == ["Oh wow, a visitor in my den,", "hello there!", "Bye."]


def test_sentence_end_needs_lookahead() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("It costs $29.") == []  # could still be $29.99
    assert chunker.feed("99 today. Next") == ["It costs $29.99 today."]
    assert chunker.flush() == ["Next"]
    chunker.reset()
    assert chunker.feed("Hello there! Wow") == ["Hello there!"]
    assert chunker.feed(" that is nice!") == []  # a later sentence may still go on ("!!", a closing quote)
    assert chunker.feed(" Next") == ["Wow that is nice!"]


def test_the_first_chunk_does_not_wait_for_the_next_token() -> None:
    """A first clause or exclamation after a word goes to speech at once; a full stop or an open quote still waits."""
    assert SentenceChunker().feed("Hmm,") == ["Hmm,"]
    assert SentenceChunker().feed("Oh,") == ["Oh,"]
    assert SentenceChunker().feed("I,") == []  # shorter than the first chunk's minimum
    assert SentenceChunker().feed("Really?") == ["Really?"]
    assert SentenceChunker().feed("It costs 1,") == []  # a number may go on: 1,000
    assert SentenceChunker().feed("Hi.") == []  # "Hi.5"? a full stop waits for what follows
    assert SentenceChunker().feed('She yelled "no way!') == []  # the quote closes next
    chunker = SentenceChunker()
    assert chunker.feed("Well,") == ["Well,"]
    assert chunker.feed(" I think so,") == [] and chunker.feed(" yes.") == []  # later chunks: whole sentences
    assert chunker.flush() == ["I think so, yes."]
    chunker = SentenceChunker()
    assert chunker.feed("Some people are loud.") == [] and chunker.feed(" Anyway,") == ["Some people are loud."]
    assert chunker.flush() == ["Anyway,"]  # a sentence is never glued to the clause after it


def test_abbreviations_and_initials_do_not_cut() -> None:
    chunks = feed_tokens(SentenceChunker(), "Dr. Fox met Mr. Tanuki at 3 p.m. yesterday, e.g. at the shrine. Then home.")
    assert chunks == ["Dr. Fox met Mr. Tanuki at 3 p.m. yesterday,", "e.g. at the shrine.", "Then home."]


def test_long_first_sentence_without_punctuation_is_cut_at_a_word() -> None:
    text = "so there I was running through the forest at night looking for the moon and my lost tail again"
    chunks = feed_tokens(SentenceChunker(first_chunk_max_chars=40), text)
    assert len(chunks[0]) <= 40 and not chunks[0].endswith(" ") and text.startswith(chunks[0])
    assert " ".join(chunks) == text


def test_a_long_first_clause_is_cut_before_a_phrase() -> None:
    """Past first_phrase_chars with no punctuation, the first chunk ends before a word that starts a phrase, never
    before a sentence's last word, never after "the" or "my"; later chunks stay whole sentences."""
    chunks = feed_tokens(SentenceChunker(), "I'm afraid it's impossible to give the entire story of how I became a fox. Sorry.")
    assert chunks == ["I'm afraid it's impossible", "to give the entire story of how I became a fox.", "Sorry."]
    assert feed_tokens(SentenceChunker(), "I'm so very sorry to hear that. Oh well.") == ["I'm so very sorry to hear that.", "Oh well."]
    chunks = feed_tokens(SentenceChunker(), "I think we should all go and visit the big mountain in summer.")
    assert chunks == ["I think we should all go", "and visit the big mountain in summer."]
    assert feed_tokens(SentenceChunker(first_phrase_chars=0), "I'm afraid it's impossible to give it all.") == [
        "I'm afraid it's impossible to give it all."]


def test_a_hard_cut_never_leaves_a_dangling_word() -> None:
    text = "Your story of the million dollars is very unique and so are you."
    chunks = feed_tokens(SentenceChunker(first_phrase_chars=0), text)
    assert chunks == ["Your story of the million dollars", "is very unique and so are you."]


def test_bare_punctuation_and_whitespace_are_never_chunks() -> None:
    chunker = SentenceChunker()
    assert feed_tokens(chunker, "... !!! ?") == []
    assert chunker.flush() == []


def test_ellipsis_and_closing_quotes_stay_with_their_sentence() -> None:
    chunks = feed_tokens(SentenceChunker(), 'She said "no way!" and left... Then silence.')
    assert chunks == ['She said "no way!"', "and left...", "Then silence."]
