"""Turn-taking scores from hand-built turn records: cut-offs on paused sentences, false waits, the bench table."""

from __future__ import annotations

from typing import Any

from kitsu_tui.soak.bench import bench_results, format_table
from kitsu_tui.soak.turntaking import (
    AUDIO_BEFORE_END,
    SECOND_HALF_MISSING,
    TWO_TURNS,
    covers,
    cut_off_reasons,
    holds_second_half,
    long_wait_ms,
    score,
)

PAUSED: dict[str, Any] = {"label": "heldout-01-paused", "text": "I was thinking that maybe tomorrow we could play the new horror game.",
          "first": "I was thinking that maybe tomorrow", "second": "we could play the new horror game.",
          "voice": "en-gb-x-rp+f3", "pause_ms": 600, "speech_start": 1920, "second_start": 40000, "speech_end": 70000}
COMPLETE: dict[str, Any] = {"label": "heldout-02-complete", "text": "Is a hot dog a sandwich?", "first": "Is a hot dog a sandwich?",
            "second": "", "voice": "en-us+m7", "pause_ms": 0, "speech_start": 1920, "second_start": None,
            "speech_end": 30000}
THRESHOLD = long_wait_ms(400, 300)


def turn(label: str, transcript: str, endpointing: float | None = 416.0, first_audio: float | None = 700.0,
         vs_end: float | None = None, interrupted: bool = False) -> dict[str, Any]:
    """A voice turn record as the bench leaves it."""
    latency = {k: v for k, v in (("endpointing", endpointing), ("first_audio", first_audio)) if v is not None}
    record: dict[str, Any] = {"source": "voice", "transcript": transcript, "interrupted": interrupted,
                              "latency_ms": latency, "input": {"kind": "voice", "file": label}, "heldout": True}
    if vs_end is not None:
        record["first_audio_vs_end_ms"] = vs_end
    return record


def test_long_wait_threshold_sits_between_the_two_caps() -> None:
    assert THRESHOLD == 550.0
    assert 416.0 < THRESHOLD < 704.0


def test_covers_tolerates_asr_slips_but_not_a_missing_half() -> None:
    assert covers("We could play the new horror gain.", "we could play the new horror game.")
    assert not covers("I was thinking that maybe tomorrow.", "we could play the new horror game.")
    assert covers("anything", "")


def test_a_garbled_second_half_still_counts_as_heard() -> None:
    first, second = "So the thing about my homework is", "that it is due in two hours."
    garbled = "So nothing about my homework is not it is you into hours"
    assert not covers(garbled, second) and holds_second_half(garbled, first, second)
    assert not holds_second_half("So the thing about my homework is", first, second)
    assert not holds_second_half("So the thing about my homework is, um", first, second)


def test_whole_sentence_answered_once_is_no_cut_off() -> None:
    whole = turn(PAUSED["label"], "I was thinking that maybe tomorrow, we could play the new horror game.",
                 endpointing=416.0, vs_end=690.0)
    assert cut_off_reasons(PAUSED, [whole]) == []


def test_the_issue_pattern_counts_every_reason() -> None:
    first = turn(PAUSED["label"], "I was thinking that maybe tomorrow.", first_audio=650.0, vs_end=-900.0,
                 interrupted=True)
    second = turn(PAUSED["label"], "We could play the new horror game.", first_audio=2500.0, vs_end=2500.0)
    assert cut_off_reasons(PAUSED, [first, second]) == [AUDIO_BEFORE_END, TWO_TURNS]
    only_first = turn(PAUSED["label"], "I was thinking that maybe tomorrow.", vs_end=-1200.0)
    assert cut_off_reasons(PAUSED, [only_first]) == [AUDIO_BEFORE_END, SECOND_HALF_MISSING]
    no_timing = turn(PAUSED["label"], "I was thinking that maybe tomorrow.")
    assert cut_off_reasons(PAUSED, [no_timing]) == [SECOND_HALF_MISSING]


def test_score_counts_cut_offs_false_waits_and_kept_waits() -> None:
    records = [
        turn(PAUSED["label"], "I was thinking that maybe tomorrow", endpointing=704.0, vs_end=-800.0),
        turn(PAUSED["label"], "We could play the new horror game.", endpointing=416.0, first_audio=2400.0, vs_end=2400.0),
        turn(COMPLETE["label"], "Is a hot dog a sandwich", endpointing=704.0, first_audio=1000.0, vs_end=1000.0),
        {"source": "chat", "transcript": "hi", "latency_ms": {"first_audio": 300.0}, "input": {"kind": "chat"}},
    ]
    result = score(records, [PAUSED, COMPLETE], THRESHOLD)
    assert (result["items"], result["answered"], result["voice_turns"]) == (2, 2, 3)
    assert (result["paused_items"], result["cut_offs"], result["cut_off_rate"]) == (1, 1, 1.0)
    assert result["cut_off_reasons"] == {AUDIO_BEFORE_END: 1, TWO_TURNS: 1}
    # The hot-dog question waited the long cap although it was complete; the paused item's first half waited
    # the long cap rightly (it was not finished), and its second-half turn was complete and quick.
    assert (result["complete_turns"], result["false_waits"], result["false_wait_rate"]) == (2, 1, 0.5)
    assert (result["incomplete_turns"], result["kept_waiting"]) == (1, 1)
    assert result["answer_ms"]["count"] == 2 and result["answer_ms"]["max"] == 2400.0
    assert result["first_audio"]["count"] == 3
    paused_outcome = result["outcomes"][0]
    assert paused_outcome["heard"] == ["I was thinking that maybe tomorrow", "We could play the new horror game."]
    assert paused_outcome["endpointing_ms"] == [704.0, 416.0]


def test_an_unanswered_item_is_neither_a_cut_off_nor_counted_in_the_rate() -> None:
    result = score([], [PAUSED, COMPLETE], THRESHOLD)
    assert (result["answered"], result["cut_offs"], result["cut_off_rate"]) == (0, 0, None)
    assert result["first_audio"] == {"count": 0} and result["false_wait_rate"] is None


def test_bench_keeps_held_out_turns_out_of_the_piper_voice_figures_and_shows_them() -> None:
    piper = {"source": "voice", "transcript": "How was your day?", "latency_ms": {"first_audio": 650.0}}
    heldout_records = [turn(COMPLETE["label"], "Is a hot dog a sandwich?", first_audio=820.0, vs_end=820.0)]
    heldout = score(heldout_records, [COMPLETE], THRESHOLD)
    results = bench_results([piper, *heldout_records], load_s=3.0, rss={"after_load": 500.0, "peak": 600.0},
                            heldout=heldout)
    assert results["voice"]["first_audio"]["count"] == 1 and results["voice"]["first_audio"]["p50"] == 650.0
    verdicts = {t["target"]: t["met"] for t in results["targets"]}
    assert verdicts["held-out first audio p50 <= 600 ms"] is False
    assert verdicts["held-out first audio p95 <= 900 ms"] is True
    assert verdicts["held-out cut-offs <= 5%"] is None  # no paused item answered
    table = format_table(results)
    assert "held-out voices: 1/1 items answered, 1 voice turns" in table
    assert "false waits (complete sentence, endpointing >= 550 ms): 0/1" in table


def test_the_bench_prints_each_endpointing_rule_side_by_side() -> None:
    transcript = score([turn(COMPLETE["label"], "Is a hot dog a sandwich?", endpointing=416.0, vs_end=560.0)],
                       [COMPLETE], THRESHOLD) | {"mode": "transcript"}
    smart = score([turn(COMPLETE["label"], "Is a hot dog a sandwich?", endpointing=224.0, vs_end=470.0)],
                  [COMPLETE], THRESHOLD) | {"mode": "smart-turn", "turn_model_ms": {"count": 3, "p50": 48.0, "p95": 55.0}}
    results = bench_results([], load_s=3.0, rss={"after_load": 500.0, "peak": 600.0}, heldout=transcript)
    results["endpointing"] = {"transcript": transcript, "smart-turn": smart,
                              "other": {"mode": "other", "error": "the Smart Turn model did not load"}}
    table = format_table(results)
    assert "held-out voices, endpointing transcript (the configured rule):" in table
    assert ("endpointing transcript: answer p50 560 / p95 560 ms, endpointing p50 416 / p95 416 ms, cut-offs 0/0, "
            "false waits 0/1") in table
    assert "endpointing smart-turn: answer p50 470 / p95 470 ms" in table and "model p50 48 / p95 55 ms" in table
    assert "endpointing other: not measured (the Smart Turn model did not load)" in table


async def test_an_unknown_endpointing_rule_is_one_line_before_anything_loads() -> None:
    import io

    from kitsu_tui.config.settings import Settings
    from kitsu_tui.soak.bench import run_bench

    out, err = io.StringIO(), io.StringIO()
    assert await run_bench(Settings(), 0, 0, out=out, err=err, voices="espeak", endpointing=["transcript", "guess"]) == 2
    assert err.getvalue().splitlines() == ["kitsu: --endpointing 'guess' is unknown; use one of: transcript, sentence, smart-turn"]
    assert out.getvalue() == ""
