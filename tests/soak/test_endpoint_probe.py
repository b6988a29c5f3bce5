"""The endpoint probe: reading recorded verdicts back, replaying them under other settings, and one real run."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from kitsu_tui.config.settings import Settings, VadSettings
from kitsu_tui.engine.endpoint import Cue
from kitsu_tui.soak.endpoint_probe import (
    Verdict,
    build_probe_items,
    cut_share,
    load_dev_corpus,
    parse_rule,
    pick_lines,
    replay,
    run_probe,
)
from kitsu_tui.soak.voiceset import PAUSED_LINES


@pytest.mark.parametrize(("rule", "expected"), [
    ("transcript unsure, reply 0.24, 650 ms", Verdict(Cue.UNSURE, 0.24, 650.0)),
    ("transcript finished, sentence 0.81, 400 ms", Verdict(Cue.FINISHED, 0.81, 400.0)),
    ("transcript unfinished, 800 ms", Verdict(Cue.UNFINISHED, None, 800.0)),
    ("transcript unsure, model 0.91, reply pending, 400 ms", Verdict(Cue.UNSURE, None, 400.0)),
    ("transcript pending, 650 ms", Verdict(None, None, 650.0)),
    ("", None),
    ("noise", None),
])
def test_rules_are_read_back(rule: str, expected: Verdict | None) -> None:
    assert parse_rule(rule) == expected


def test_cut_share_spreads_pauses_from_300_to_700_ms() -> None:
    assert cut_share(200) == 1.0  # every pause outlasts the wait
    assert cut_share(400) == pytest.approx((700 - 416) / 400)
    assert cut_share(650) == pytest.approx((700 - 666) / 400)
    assert cut_share(800) == 0.0


def test_replay_recomputes_waits_with_the_real_rule() -> None:
    found = [("probe-000-first", Verdict(Cue.UNSURE, 0.25, 650.0)),  # 0.2 <= P < 0.3: the margin decides
             ("probe-001-first", Verdict(Cue.UNFINISHED, None, 800.0)),
             ("probe-002-whole", Verdict(Cue.UNSURE, 0.9, 400.0)),
             ("probe-003-whole", Verdict(Cue.UNSURE, 0.22, 650.0))]
    short = replay(found, VadSettings(sentence_margin_ms=100))
    long = replay(found, VadSettings(sentence_margin_ms=250))
    assert short["first_parts"] == long["first_parts"] == 2 and short["whole"] == 2
    assert short["cut_share"] == pytest.approx((cut_share(500) + 0.0) / 2)
    assert long["cut_share"] == pytest.approx((cut_share(650) + 0.0) / 2)
    assert short["whole_wait_ms"] == pytest.approx((400 + 500) / 2) and long["whole_wait_ms"] == pytest.approx(525)
    assert long["whole_capped"] == 0


def test_the_dev_corpus_is_not_the_held_out_set() -> None:
    rows = load_dev_corpus()
    assert sum(kind == "incomplete" for kind, _ in rows) >= 200 and sum(kind == "complete" for kind, _ in rows) >= 200
    held_out = {part.lower().rstrip(".?") for pair in PAUSED_LINES for part in pair}
    assert not held_out & {text.lower() for _, text in rows}
    picked = pick_lines(rows, 5, 3, seed=1)
    assert sorted(kind for kind, _ in picked) == ["complete"] * 3 + ["incomplete"] * 5
    assert picked == pick_lines(rows, 5, 3, seed=1) != pick_lines(rows, 5, 3, seed=2)


def test_a_broken_corpus_line_names_file_and_line(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("complete\tcan foxes swim\nmaybe\tso um\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"corpus.tsv:2: expected"):
        load_dev_corpus(corpus)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_a_real_probe_records_a_verdict_per_line(soak_settings: Settings, tmp_path: Path) -> None:
    """Two lines through the real engine (Whisper, the LLM's verdict): each gets a wait the rule can choose."""
    items = build_probe_items([("incomplete", "my favourite part of the whole week"),
                               ("complete", "what is your favourite kind of ramen")], seed=5, cache_dir=tmp_path)
    assert [item.label for item in items] == ["probe-000-first", "probe-001-whole"]
    found = await run_probe(soak_settings, items, io.StringIO())
    assert [label for label, _ in found] == ["probe-000-first", "probe-001-whole"]
    assert all(verdict.required_ms in (400.0, 650.0, 800.0) for _, verdict in found), found
