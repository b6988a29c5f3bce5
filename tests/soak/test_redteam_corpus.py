"""The red-team corpus: its format checks, the shipped corpus's coverage, folding of disguises, and selection."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from kitsu_tui.soak.redteam_corpus import (
    CATEGORIES,
    CorpusError,
    first_match,
    fold,
    parse_corpus,
    read_corpus,
    select,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "redteam" / "corpus.jsonl"


def line(**fields: object) -> str:
    case: dict[str, object] = {"id": "hate-001", "category": "hate", "turns": [{"author": "ann", "text": "hello"}],
                               "forbidden": []}
    case.update(fields)
    return json.dumps({k: v for k, v in case.items() if v is not None})


def test_a_good_line_becomes_a_case_with_compiled_patterns() -> None:
    [case] = parse_corpus([line(turns=[{"author": "ann", "text": "setup"}, {"author": "bob", "text": "and then?"}],
                                forbidden=["hate (all )?foxes"], note="two viewers")], "c.jsonl")
    assert (case.id, case.category, case.note, case.line) == ("hate-001", "hate", "two viewers", 1)
    assert [(t.author, t.text) for t in case.turns] == [("ann", "setup"), ("bob", "and then?")]
    assert case.forbidden[0].search("I HATE ALL FOXES") is not None  # case-insensitive


@pytest.mark.parametrize(("raw", "reason"), [
    ('{"id": "x", "category": "hate", "turns": [', "not valid JSON"),
    ('["a list"]', "must be a JSON object"),
    (line(id=""), '"id" must be a non-empty string'),
    (line(category="spam"), "\"category\" 'spam' is not one of hate, threat"),
    (line(turns=[]), '"turns" must be a non-empty list'),
    (line(turns=[{"author": "ann", "text": "  "}]), 'turn 1: "text" must be a non-empty string'),
    (line(turns=[{"author": "ann", "text": "hi", "delay": 1}]), 'turn 1 must be an object with only "author"'),
    (line(forbidden="slur"), '"forbidden" must be a list of non-empty regex strings'),
    (line(forbidden=["(unclosed"]), "forbidden pattern '(unclosed' is not a valid regex"),
    (line(severity="high"), "unknown key 'severity'"),
    (line(note=3), '"note" must be a string'),
])
def test_a_bad_line_names_file_line_and_reason(raw: str, reason: str) -> None:
    with pytest.raises(CorpusError) as caught:
        parse_corpus(["", line(id="ok-1"), raw], "c.jsonl")
    assert str(caught.value).startswith("c.jsonl:3: ")
    assert reason in str(caught.value)


def test_duplicate_ids_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"c.jsonl:2: duplicate id 'hate-001' \(first on line 1\)"):
        parse_corpus([line(), line()], "c.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(CorpusError, match="holds no cases"):
        read_corpus(empty)
    with pytest.raises(CorpusError, match="cannot read the corpus"):
        read_corpus(tmp_path / "missing.jsonl")


def test_select_takes_the_first_n_of_each_chosen_category_in_order() -> None:
    cases = parse_corpus([line(id=f"{cat}-{n}", category=cat) for n in range(3) for cat in ("hate", "ordinary")],
                         "c.jsonl")
    assert [c.id for c in select(cases, limit=2)] == ["hate-0", "ordinary-0", "hate-1", "ordinary-1"]
    assert [c.id for c in select(cases, ["ordinary"])] == ["ordinary-0", "ordinary-1", "ordinary-2"]
    with pytest.raises(CorpusError, match="unknown category 'spam'"):
        select(cases, ["spam"])


@pytest.mark.parametrize(("disguised", "plain"), [
    ("ｆｏｘｅｓ", "foxes"),  # full-width
    ("f\u200bo\u200dx\u2060es", "foxes"),  # zero-width
    ("fоxеs", "foxes"),  # Cyrillic o and e
    ("ϝοχεѕ", "foxes"),  # Greek look-alikes
    ("ꜰᴏxᴇꜱ", "foxes"),  # small capitals
    ("fóxés", "foxes"),  # diacritics
    ("f\u0301o\u0301xes", "foxes"),  # combining marks
    ("🇫\u200b🇴\u200b🇽", "fox"),  # regional indicators
    ("🅵🅾🆇", "fox"),  # squared letters
    ("ⓕⓞⓧ", "fox"),  # circled letters
    ("𝐟𝐨𝐱", "fox"),  # math bold
    ("don’t", "don't"),  # typographic apostrophe
])
def test_fold_undoes_each_disguise(disguised: str, plain: str) -> None:
    assert fold(disguised) == plain


def test_first_match_tries_plain_folded_and_leet_forms() -> None:
    slur = re.compile(r"\bfoxes\b", re.IGNORECASE)
    assert first_match(slur, "I like fоxеs") == "foxes"
    assert first_match(slur, "I like f0x3s") == "foxes"
    assert first_match(slur, "I like boxes") is None
    assert first_match(slur, "") is None
    cyrillic = re.compile(r"[\u0400-\u04ff]")
    assert first_match(cyrillic, "привет") == "п"  # scripts are matched on the text as spoken


def test_the_shipped_corpus_covers_every_category_with_enough_cases() -> None:
    cases = read_corpus(CORPUS)
    counts = Counter(c.category for c in cases)
    assert len(cases) >= 450
    assert set(counts) == set(CATEGORIES)
    assert counts["ordinary"] >= 150 and counts["multi_turn"] >= 30 and counts["roleplay"] >= 25
    assert all(n >= 20 for n in counts.values()), counts
    for case in cases:
        assert bool(case.forbidden) == (case.category != "ordinary"), case.id
    multi = [c for c in cases if c.category == "multi_turn"]
    assert all(3 <= len(c.turns) <= 6 for c in multi)
    assert all(len({t.author for t in c.turns}) >= 2 for c in multi)  # follow-ups come from other viewers


def test_ordinary_lines_include_the_scunthorpe_words() -> None:
    ordinary = " ".join(t.text for c in read_corpus(CORPUS) if c.category == "ordinary" for t in c.turns).lower()
    for word in ("sussex", "cockatoo", "therapist", "dick van dyke", "moby dick", "analysis", "shiitake",
                 "scunthorpe", "assassin", "class", "cocktail", "grape", "essex", "penistone", "matsushita",
                 "this boss is killing me", "i'm dead lol", "world war 2", "therapy really helped me"):
        assert word in ordinary, word


def test_no_forbidden_pattern_of_a_slur_case_matches_an_ordinary_line() -> None:
    cases = read_corpus(CORPUS)
    slur_patterns = {p.pattern: p for c in cases if c.category == "slur_obfuscation" for p in c.forbidden}
    for case in cases:
        if case.category == "ordinary":
            for turn in case.turns:
                hits = [p for p in slur_patterns.values() if first_match(p, turn.text)]
                assert not hits, (case.id, turn.text, [p.pattern for p in hits])


def test_every_obfuscated_slur_is_caught_by_its_own_pattern_once_folded() -> None:
    """A reply that repeats the disguised line would be scored as forbidden."""
    for case in read_corpus(CORPUS):
        if case.category == "slur_obfuscation":
            text = case.turns[0].text
            assert any(first_match(p, text) for p in case.forbidden), (case.id, case.note, text)
