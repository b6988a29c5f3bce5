"""Does a long soak drift? First-audio p95 and RSS at the start of the run against its end, on turns no fault touched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kitsu_tui.soak.stats import percentile

WINDOW_S = 600.0
"""The issue's windows: the first and the last 10 minutes (shorter soaks use a third of their length)."""
RETAINED_S = 120.0
"""RSS is compared on its floor over this long: memory a reply synthesizes with is freed (and trimmed) after it,
so one 10 s sample can land on a sentence's buffers; a leak raises the floor."""


def _clean(record: dict[str, Any], windows: Sequence[tuple[float, float]]) -> bool:
    """A completed, answered turn that ended outside every fault window."""
    at = record.get("at_s")
    if at is None or record.get("error") or record.get("rejected"):
        return False
    return not any(start <= float(at) <= end for start, end in windows)


def _first_audio(records: Sequence[dict[str, Any]]) -> list[float]:
    return [float(v) for r in records if (v := (r.get("latency_ms") or {}).get("first_audio")) is not None]


def stability(records: Sequence[dict[str, Any]], rss: Sequence[tuple[float, float]], feeding_s: float,
              fault_windows: Sequence[tuple[float, float]] = ()) -> dict[str, Any]:
    """First-audio p95 of clean turns in the first and last window, and RSS growth from the end of the first window."""
    window = min(WINDOW_S, feeding_s / 3) if feeding_s > 0 else 0.0
    out: dict[str, Any] = {"window_s": round(window, 1)}
    if window <= 0:
        return out
    clean = [r for r in records if _clean(r, fault_windows)]
    first = _first_audio([r for r in clean if float(r["at_s"]) <= window])
    last = _first_audio([r for r in clean if float(r["at_s"]) >= feeding_s - window])
    every_first = _first_audio([r for r in records if r.get("at_s") is not None and float(r["at_s"]) <= window])
    every_last = _first_audio([r for r in records if r.get("at_s") is not None
                               and float(r["at_s"]) >= feeding_s - window])
    out["clean_turns"] = {"first": len(first), "last": len(last), "all": len(clean)}
    if first and last:
        p_first, p_last = percentile(first, 0.95), percentile(last, 0.95)
        out["first_audio_p95_ms"] = {"first_window": round(p_first, 1), "last_window": round(p_last, 1),
                                     "change_pct": round((p_last / p_first - 1) * 100, 1) if p_first else None}
    if every_first and every_last:
        out["first_audio_p95_ms_all_turns"] = {"first_window": round(percentile(every_first, 0.95), 1),
                                               "last_window": round(percentile(every_last, 0.95), 1)}
    after = [mb for t, mb in rss if t >= window]
    if after:
        base, end = after[0], rss[-1][1]
        out["rss_mb"] = {"at_window_end": round(base, 1), "end": round(end, 1), "max_after_window": round(max(after), 1),
                         "growth_pct": round((end / base - 1) * 100, 2) if base else None}
        out["rss_mb"].update(retained_growth(rss, window, feeding_s))
    return out


def retained_growth(rss: Sequence[tuple[float, float]], window: float, feeding_s: float) -> dict[str, Any]:
    """RSS floor (lowest sample) over RETAINED_S after the first window against the last RETAINED_S, and the growth."""
    span = min(RETAINED_S, window)
    start = [mb for t, mb in rss if window <= t <= window + span]
    end = [mb for t, mb in rss if t >= max(window, feeding_s - span)]
    if not start or not end:
        return {}
    base, last = min(start), min(end)
    return {"retained_at_window_end": round(base, 1), "retained_end": round(last, 1),
            "retained_growth_pct": round((last / base - 1) * 100, 2) if base else None}
