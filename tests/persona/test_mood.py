"""MoodFilter: mood tags and stage directions are parsed from the stream and never spoken."""

from __future__ import annotations

import random

import pytest

from kitsu_tui.engine.mood import HOLD_LIMIT, MoodFilter, infer_mood, parse_reply


def stream(pieces: list[str], moods: tuple[str, ...] | None = None) -> tuple[str, MoodFilter, list[bool]]:
    """Feed pieces one by one; return the spoken text, the filter and mood_decided after each piece."""
    mood_filter = MoodFilter(moods)
    spoken, decided = [], []
    for piece in pieces:
        spoken.append(mood_filter.feed(piece))
        decided.append(mood_filter.mood_decided)
    spoken.append(mood_filter.finish())
    return "".join(spoken), mood_filter, decided


def test_leading_tag_with_actions() -> None:
    """A leading [mood|action,action] tag sets mood and actions and is not spoken."""
    text, mood, actions = parse_reply("[happy|wave,jump] Hiii chat! Welcome back.")
    assert (text, mood, actions) == ("Hiii chat! Welcome back.", "happy", ("wave", "jump"))


def test_tag_split_across_tokens_decides_early() -> None:
    """A tag arriving in fragments is held back, then the mood is known before any text is spoken."""
    text, mood_filter, decided = stream(["[", "sur", "pri", "sed", "]", " Whoa", ",", " really", "?"])
    assert text == "Whoa, really?"
    assert mood_filter.mood == "surprised"
    assert decided == [False, False, False, False, True, True, True, True, True]


def test_every_split_point_gives_the_same_result() -> None:
    """Cutting the raw reply at any character boundaries never changes what is spoken (a later mood tag is dropped)."""
    raw = "[sad|sniff] Nooo *sobs* my ice cream [cry] fell (sighs) down."
    expected = parse_reply(raw)
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(raw)), rng.randint(1, 12)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        text, mood_filter, _ = stream(pieces)
        assert (text, mood_filter.mood, mood_filter.actions) == expected
    assert expected == ("Nooo my ice cream fell down.", "sad", ("sniff", "sobs", "sighs"))


@pytest.mark.parametrize(
    ("raw", "spoken", "mood"),
    [
        ("Yay, I love this game so much!", "Yay, I love this game so much!", "happy"),
        ("Sorry, I miss my old den.", "Sorry, I miss my old den.", "sad"),
        ("Ugh, I hate lag, it is so annoying.", "Ugh, I hate lag, it is so annoying.", "angry"),
        ("Wait what?! No way.", "Wait what?! No way.", "surprised"),
        ("The stream starts at nine.", "The stream starts at nine.", "neutral"),
    ],
)
def test_fallback_when_model_ignores_the_format(raw: str, spoken: str, mood: str) -> None:
    """Without a tag the text passes unchanged and the mood is guessed from words and punctuation."""
    assert parse_reply(raw)[:2] == (spoken, mood)


def test_fallback_decides_at_first_sentence() -> None:
    """Untagged replies get their mood once the first sentence is complete, not only at the end."""
    _, mood_filter, decided = stream(["Wow", " that", " is", " amazing!", " Tell", " me", " more."])
    assert decided == [False, False, False, True, True, True, True]
    assert mood_filter.mood in {"happy", "surprised"}


def test_stage_directions_and_stray_tags_mid_reply() -> None:
    """*actions*, [tags] and (stage words) are removed anywhere; ordinary parentheses stay."""
    text, mood, actions = parse_reply("Hi *wags tail* friend [laughs]! It is (I think) late (giggles).")
    assert text == "Hi friend! It is (I think) late."
    assert mood == "happy"
    assert actions == ("wags_tail", "laughs", "giggles")
    assert "*" not in parse_reply("**Bold** move, *really*")[0]


def test_alias_and_unknown_moods() -> None:
    """Alias words map to canonical moods; unknown tag words become actions; persona moods are accepted."""
    assert parse_reply("[joy] hi")[1] == "happy"
    assert parse_reply("[dance] hi there.")[1:] == ("neutral", ("dance",))
    assert parse_reply("[sleepy] zzz.", moods=("sleepy",))[1] == "sleepy"


def test_hold_back_is_bounded_and_cut_off_tags_are_dropped() -> None:
    """An opener with no closer is released after HOLD_LIMIT characters; a tag cut off at the end is not spoken."""
    mood_filter = MoodFilter()
    long_text = "[" + "a" * (HOLD_LIMIT + 5)
    assert mood_filter.feed(long_text) == "a" * (HOLD_LIMIT + 5)
    assert parse_reply("Bye bye [hap")[0] == "Bye bye"
    assert parse_reply("Hello :( sad day.")[0] == "Hello :( sad day."


def test_infer_mood_default() -> None:
    """Plain statements are neutral."""
    assert infer_mood("") == "neutral"
    assert infer_mood("We are live.") == "neutral"
