"""Drift figures of a long soak: clean-turn first-audio p95 and RSS, first window against the end."""

from __future__ import annotations

from typing import Any

from kitsu_tui.soak.stability import retained_growth, stability


def record(at_s: float, first_audio: float, error: str = "") -> dict[str, Any]:
    return {"at_s": at_s, "error": error, "latency_ms": {"first_audio": first_audio}}


def test_p95_compares_clean_turns_of_the_first_and_last_window() -> None:
    records = [record(60 + i, 500 + i) for i in range(20)] + [record(6700 + i, 550 + i) for i in range(20)]
    records += [record(100, 9000), record(6800, 9000, error="LLM failed")]  # inside a fault, and an error turn
    out = stability(records, [], feeding_s=7200, fault_windows=[(90, 110)])
    assert out["window_s"] == 600 and out["clean_turns"] == {"first": 20, "last": 20, "all": 40}
    p95 = out["first_audio_p95_ms"]
    assert p95["first_window"] < 520 and p95["last_window"] < 570 and 0 < p95["change_pct"] < 11


def test_rss_growth_is_judged_on_the_floor_not_one_sample() -> None:
    """Synthesis buffers come and go between 10 s samples; a leak raises the floor, a busy last sample does not."""
    wave = [(600.0 + 10 * i, 550.0 + (60.0 if i % 3 == 1 else 0.0)) for i in range(661)]  # 600 s .. 7200 s
    wave[-1] = (7200.0, 640.0)  # the last sample lands on a long sentence
    out = stability([], wave, feeding_s=7200)["rss_mb"]
    assert out["growth_pct"] > 5  # sample to sample: noise
    assert out["retained_at_window_end"] == 550 and out["retained_end"] == 550 and out["retained_growth_pct"] == 0
    leak = [(t, mb + (t - 600) / 100) for t, mb in wave]  # +66 MB over the run
    assert retained_growth(leak, 600, 7200)["retained_growth_pct"] > 10
    assert retained_growth([], 600, 7200) == {}
