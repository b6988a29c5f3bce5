"""The aggregation math of soak and bench: percentiles, per-stage statistics, errors, targets."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest

from kitsu_tui.soak.bench import RSS_TARGET_MB, bench_results, check_targets, format_table
from kitsu_tui.soak.stats import (
    aggregate,
    aggregate_by_source,
    describe,
    error_kind,
    errors_by_kind,
    percentile,
)
from kitsu_tui.soak.summary import SoakTally, build_summary


def record(turn: int, source: str = "chat", error: str = "", **latency: float) -> dict[str, Any]:
    return {"turn": turn, "source": source, "error": error, "latency_ms": latency}


@pytest.mark.parametrize("size", [1, 2, 3, 7, 20, 101])
def test_percentile_matches_numpy_linear(size: int) -> None:
    rnd = random.Random(size)
    values = [rnd.uniform(10, 2000) for _ in range(size)]
    for q in (0.0, 0.25, 0.5, 0.9, 0.95, 1.0):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))


def test_percentile_rejects_nothing_and_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_describe_by_hand() -> None:
    stats = describe([100.0, 200.0, 300.0, 400.0])
    assert stats == {"count": 4, "mean": 250.0, "p50": 250.0, "p95": 385.0, "max": 400.0}
    assert describe([]) == {"count": 0}


def test_aggregate_skips_turns_without_a_stage() -> None:
    records = [record(1, "voice", endpointing=410.0, first_audio=700.0), record(2, "chat", first_audio=300.0),
               record(3, "chat", first_audio=320.0)]
    stats = aggregate(records)
    assert stats["endpointing"] == describe([410.0])
    assert stats["first_audio"]["count"] == 3 and stats["first_audio"]["max"] == 700.0
    assert stats["asr_final"] == {"count": 0}
    split = aggregate_by_source(records)
    assert set(split) == {"chat", "voice"}
    assert split["chat"]["first_audio"] == describe([300.0, 320.0])


def test_errors_by_kind_and_no_double_counting() -> None:
    assert error_kind("BackendError: server down") == "BackendError"
    assert error_kind("the model crashed badly") == "error"
    tally = SoakTally(records=[record(1, error="BackendError: down"), record(2), record(3, error="TimeoutError: x")],
                      stage_errors=[(1, "llm", "down"), (2, "tts", "synthesis failed"), (0, "memory", "disk full")],
                      extra_errors=Counter({"timeout": 1}), attempted=4)
    counts = tally.error_counts()
    # turn 1's llm StageError is the same failure as its record's error: counted once
    assert counts == {"turn:BackendError": 1, "turn:TimeoutError": 1, "stage:tts": 1, "stage:memory": 1, "timeout": 1}
    assert tally.error_total() == 5 and tally.error_rate() == pytest.approx(5 / 4)
    assert errors_by_kind([record(1)]) == {}


def test_summary_aggregates_are_those_of_its_turns() -> None:
    records = [record(i, "chat", first_audio=100.0 + i * 10, total=900.0 + i) for i in range(1, 8)]
    summary = build_summary(SoakTally(records=records, attempted=7, rss_start_mb=50, rss_peak_mb=80, rss_end_mb=70),
                            {"stopped_by": "max turns"})
    assert summary["turns"] == records and summary["turns_attempted"] == 7
    assert summary["aggregates"]["first_audio"] == describe([r["latency_ms"]["first_audio"] for r in records])
    assert summary["rss_mb"] == {"start": 50, "peak": 80, "end": 70}
    assert summary["errors"]["total"] == 0 and summary["stopped_by"] == "max turns"


def test_bench_targets_and_table() -> None:
    voice = [record(i, "voice", first_audio=600.0 + 100 * i, endpointing=400.0) for i in range(10)]
    chat = [record(i, "chat", first_audio=200.0 + 10 * i) for i in range(10)]
    results = bench_results(voice + chat, load_s=9.5, rss={"after_load": 700.0, "peak": 900.0})
    assert results["voice"]["first_audio"] == describe([r["latency_ms"]["first_audio"] for r in voice])
    verdicts = {t["target"]: t["met"] for t in results["targets"]}
    assert verdicts["voice first audio p50 <= 800 ms"] is False  # p50 of 600..1500 is 1050
    assert verdicts["voice first audio p95 <= 1200 ms"] is False
    assert verdicts["chat first audio p50 <= 350 ms"] is True
    assert verdicts[f"peak RSS <= {RSS_TARGET_MB:.0f} MB"] is True
    table = format_table(results)
    assert ["voice", "first_audio", "10", "1050", "1455"] in [line.split()[:5] for line in table.splitlines()]
    assert "MISSED" in table and "load time 9.5 s" in table
    assert check_targets({"voice": {}, "chat": {}, "rss_mb": {}})[0]["met"] is None


def test_bench_reports_the_safety_gate_per_sentence() -> None:
    """Output moderation and the hold decision are reported per sentence, with the 5 ms p95 target."""
    chat = [record(i, "chat", first_audio=200.0) for i in range(4)]
    for i, r in enumerate(chat):
        r["moderation"] = [{"stage": "input", "action": "allow", "ms": 9.0},
                           {"stage": "output", "action": "allow", "ms": 0.2 + i / 10, "gate_ms": 0.3 + i / 10},
                           {"stage": "output", "action": "review" if i == 0 else "allow", "ms": 0.4, "gate_ms": 0.5}]
    results = bench_results(chat, load_s=1.0, rss={"after_load": 1.0, "peak": 1.0})
    safety = results["safety"]
    assert safety["sentences"] == 8 and safety["held"] == 1
    assert safety["gate_ms"]["max"] == 0.6 and safety["moderation_ms"]["p50"] == 0.4
    verdicts = {t["target"]: t["met"] for t in results["targets"]}
    assert verdicts["moderation + hold per sentence p95 <= 5 ms"] is True
    assert "moderation + hold (hold off) per sentence: p50" in format_table(results)
