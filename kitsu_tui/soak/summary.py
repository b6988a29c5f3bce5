"""The soak summary: every turn record, per-stage aggregates, errors by kind, RSS, written as JSON."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kitsu_tui.soak.stats import aggregate, aggregate_by_source, errors_by_kind

RSS_EVERY_S = 10.0


@dataclass
class SoakTally:
    """What a soak collected while it ran: turn records, errors outside records, RSS and input problems."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stage_errors: list[tuple[int, str, str]] = field(default_factory=list)
    """(turn_id, stage, message) of every StageError event."""
    extra_errors: Counter[str] = field(default_factory=Counter)
    """Soak-level failures: turn timeouts, utterances that made no turn, replay mismatches."""
    input_problems: list[str] = field(default_factory=list)
    replay_mismatches: list[dict[str, str]] = field(default_factory=list)
    attempted: int = 0
    """Items fed (chat messages sent, utterances spoken)."""
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_series: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since feeding started, RSS MB), at most one sample per RSS_EVERY_S."""

    def sample_rss(self, at_s: float, rss_mb: float) -> None:
        """Keep an RSS sample when the last kept one is RSS_EVERY_S old (a bounded series for hours-long soaks)."""
        if not self.rss_series or at_s - self.rss_series[-1][0] >= RSS_EVERY_S:
            self.rss_series.append((round(at_s, 1), round(rss_mb, 1)))

    def error_counts(self) -> dict[str, int]:
        """Errors by kind: failed turns, stage errors that did not fail a turn, soak-level failures."""
        failed = {int(r.get("turn", 0)) for r in self.records if r.get("error")}
        extra: Counter[str] = Counter(self.extra_errors)
        for turn_id, stage, _ in self.stage_errors:
            if turn_id not in failed:
                extra[f"stage:{stage}"] += 1
        return errors_by_kind(self.records, extra)

    def error_total(self) -> int:
        """All errors counted."""
        return sum(self.error_counts().values())

    def error_rate(self) -> float:
        """Errors per item fed (0 when nothing was fed)."""
        return self.error_total() / self.attempted if self.attempted else 0.0


def build_summary(tally: SoakTally, meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready summary: meta first, aggregates, errors, RSS, then every turn."""
    records: Sequence[dict[str, Any]] = tally.records
    completed = [r for r in records if not r.get("rejected")]
    return {
        "kitsu_soak": 1,
        **meta,
        "turns_attempted": tally.attempted,
        "turns_recorded": len(records),
        "turns_rejected": len(records) - len(completed),
        "aggregates": aggregate(records),
        "aggregates_by_source": aggregate_by_source(records),
        "errors": {
            "total": tally.error_total(),
            "rate": round(tally.error_rate(), 4),
            "by_kind": tally.error_counts(),
            "messages": [{"turn": t, "stage": s, "message": m} for t, s, m in tally.stage_errors],
        },
        "rss_mb": {"start": tally.rss_start_mb, "peak": tally.rss_peak_mb, "end": tally.rss_end_mb},
        "input_problems": list(tally.input_problems),
        "replay_mismatches": list(tally.replay_mismatches),
        "turns": list(records),
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """Write the summary atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
