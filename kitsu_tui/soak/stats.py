"""Aggregation of turn records: per-stage count/mean/p50/p95/max and errors by kind."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STAGES = ("endpointing", "asr_final", "llm_first_token", "first_clause", "tts_first_audio", "first_audio", "total")
"""Every latency figure a turn record may carry (record["latency_ms"][stage]), in pipeline order."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q} is outside 0..1")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def describe(values: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p95, max of some latencies in ms (rounded to 0.1 ms; only count when empty)."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 1),
        "p50": round(percentile(values, 0.50), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
    }


def stage_values(records: Iterable[Mapping[str, Any]], stage: str) -> list[float]:
    """Every record's figure for one stage (records without it are left out)."""
    out: list[float] = []
    for record in records:
        value = (record.get("latency_ms") or {}).get(stage)
        if isinstance(value, int | float):
            out.append(float(value))
    return out


def aggregate(records: Sequence[Mapping[str, Any]], stages: Sequence[str] = STAGES) -> dict[str, dict[str, float | int]]:
    """Per-stage statistics over the records."""
    return {stage: describe(stage_values(records, stage)) for stage in stages}


def aggregate_by_source(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, float | int]]]:
    """Per-stage statistics split by the record's source (voice, chat)."""
    sources = sorted({str(r.get("source", "")) for r in records})
    return {source: aggregate([r for r in records if r.get("source") == source]) for source in sources}


def error_kind(message: str) -> str:
    """The kind of a turn's error text: the exception name before ':' (or the whole short text)."""
    head = message.split(":", 1)[0].strip()
    return head if head and " " not in head else "error"


def errors_by_kind(records: Iterable[Mapping[str, Any]], extra: Counter[str] | None = None) -> dict[str, int]:
    """Failed turns by error kind (from record['error']) plus the extra counts (stage errors, timeouts...)."""
    kinds: Counter[str] = Counter()
    for record in records:
        if record.get("error"):
            kinds[f"turn:{error_kind(str(record['error']))}"] += 1
    if extra:
        kinds.update(extra)
    return dict(sorted(kinds.items()))
