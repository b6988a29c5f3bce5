"""The post-show report: turns by source, first-audio p50/p95, blocks by rule, incidents and top chatters."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kitsu_tui.soak.stats import describe, stage_values


class ShowLogError(Exception):
    """A show log that cannot be read at all (missing, unreadable, or with no show in it)."""


@dataclass
class ShowLogLines:
    """A show log's records in order, and the lines that could not be parsed (by line number)."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    broken: list[int] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Every record of one kind."""
        return [r for r in self.records if r.get("kind") == kind]


def read_show_log(path: Path) -> ShowLogLines:
    """Parse a show log; a broken line (a crash mid-write) is counted, not fatal."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ShowLogError(f"cannot read {path}: {exc.strerror or exc}") from exc
    lines = ShowLogLines(Path(path))
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            lines.broken.append(number)
            continue
        if isinstance(record, dict) and isinstance(record.get("kind"), str):
            lines.records.append(record)
        else:
            lines.broken.append(number)
    if not lines.records:
        raise ShowLogError(f"{path} holds no show log records")
    return lines


def _t(record: dict[str, Any]) -> float:
    """A record's seconds since the show started."""
    value = record.get("t", 0.0)
    return float(value) if isinstance(value, int | float) else 0.0


def turns_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by origin (voice, chat, operator, say), answered/refused/failed/interrupted, refusals by reason."""
    answered = [t for t in turns if not t.get("rejected") and not t.get("error")]
    return {
        "total": len(turns),
        "by_source": dict(sorted(Counter(str(t.get("origin") or t.get("source", "?")) for t in turns).items())),
        "answered": len(answered),
        "refused": sum(1 for t in turns if t.get("rejected")),
        "refused_by_reason": dict(Counter(str(t["rejected"]) for t in turns if t.get("rejected")).most_common()),
        "interrupted": sum(1 for t in answered if t.get("interrupted")),
        "failed": sum(1 for t in turns if t.get("error")),
    }


def first_audio(turns: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """first_audio (ms) count/mean/p50/p95/max over all answered turns and by source."""
    answered = [t for t in turns if not t.get("rejected")]
    out = {"all": describe(stage_values(answered, "first_audio"))}
    for source in sorted({str(t.get("source", "?")) for t in answered}):
        out[source] = describe(stage_values([t for t in answered if t.get("source") == source], "first_audio"))
    return out


def blocks_by_rule(decisions: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Moderation decisions other than allow, counted by rule for each stage (input, output)."""
    out: dict[str, Counter[str]] = {}
    for decision in decisions:
        if decision.get("action") != "allow":
            out.setdefault(str(decision.get("stage", "?")), Counter())[str(decision.get("rule", "?"))] += 1
    return {stage: dict(counts.most_common()) for stage, counts in sorted(out.items())}


def panics(log: ShowLogLines) -> list[dict[str, Any]]:
    """Each panic: when, how long until it was cleared, and every module's panic steps with their timings."""
    out: list[dict[str, Any]] = []
    for record in log.records:
        kind, action = record.get("kind"), record.get("action")
        if kind == "operator" and action == "panic":
            out.append({"at_s": _t(record), "by": record.get("by", "operator"), "cleared_at_s": None,
                        "duration_s": None, "steps": []})
        elif kind == "operator" and action == "clear_panic" and out and out[-1]["cleared_at_s"] is None:
            out[-1]["cleared_at_s"] = _t(record)
            out[-1]["duration_s"] = round(_t(record) - out[-1]["at_s"], 3)
        elif kind == "panic_step" and out:
            out[-1]["steps"].append({key: record.get(key) for key in ("module", "engaged", "steps", "elapsed_ms",
                                                                      "error")})
    return out


def outages(log: ShowLogLines, end_s: float) -> list[dict[str, Any]]:
    """Each time a module went into error: until when (it came back on) and how long; open ones run to the end."""
    open_since: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for record in log.of("module"):
        module, state = str(record.get("module", "?")), record.get("state")
        if state == "error" and module not in open_since:
            open_since[module] = {"module": module, "from_s": _t(record), "to_s": None, "duration_s": None,
                                  "reason": record.get("reason", ""), "ongoing": True}
            out.append(open_since[module])
        elif state in ("on", "off") and module in open_since:
            outage = open_since.pop(module)
            outage.update(to_s=_t(record), duration_s=round(_t(record) - outage["from_s"], 3), ongoing=False,
                          ended_by=state)
    for outage in open_since.values():
        outage["duration_s"] = round(end_s - outage["from_s"], 3)
    return out


def errors(log: ShowLogLines, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stage errors, failed turns, ERROR log lines and show-log gaps, in order."""
    out: list[dict[str, Any]] = []
    for record in log.records:
        kind = record.get("kind")
        if kind == "error":
            out.append({"at_s": _t(record), "kind": "stage", "where": record.get("stage", ""),
                        "message": record.get("message", "")})
        elif kind == "log_error":
            out.append({"at_s": _t(record), "kind": "log", "where": record.get("logger", ""),
                        "message": record.get("message", "")})
        elif kind == "showlog_gap":
            out.append({"at_s": _t(record), "kind": "showlog", "where": "disk",
                        "message": f"{record.get('lost', 0)} records lost: {record.get('error', '')}"})
        elif kind == "turn" and (record.get("record") or {}).get("error"):
            turn = record["record"]
            out.append({"at_s": _t(record), "kind": "turn", "where": f"turn {turn.get('turn')}",
                        "message": str(turn["error"])})
    return out


def top_chatters(turns: list[dict[str, Any]], decisions: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """Chat authors by lines sent: answered turns, refused turns, and lines blocked before they became turns."""
    stats: dict[str, Counter[str]] = {}
    for turn in turns:
        if turn.get("origin", turn.get("source")) == "chat" and turn.get("author"):
            stats.setdefault(str(turn["author"]), Counter())["refused" if turn.get("rejected") else "answered"] += 1
    for decision in decisions:
        if decision.get("stage") == "input" and decision.get("action") != "allow" and not decision.get("turn") \
                and decision.get("author"):
            stats.setdefault(str(decision["author"]), Counter())["blocked_before_queue"] += 1
    rows: list[dict[str, Any]] = [
        {"author": author, "lines": sum(c.values()), "answered": c["answered"], "refused": c["refused"],
         "blocked_before_queue": c["blocked_before_queue"]} for author, c in stats.items()]
    rows.sort(key=lambda row: (-row["lines"], row["author"]))
    return rows[:limit]


def telemetry(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """CPU and RSS over the show's samples, and each GPU's peak use."""
    if not samples:
        return {"samples": 0}
    cpu = [float(s.get("cpu_percent", 0.0)) for s in samples]
    rss = [float(s.get("rss_mb", 0.0)) for s in samples]
    gpus: dict[str, dict[str, float]] = {}
    for sample in samples:
        for gpu in sample.get("gpus") or []:
            peak = gpus.setdefault(str(gpu.get("name", gpu.get("index", "?"))), {"utilization_pct": 0.0,
                                                                                  "memory_used_mb": 0.0})
            peak["utilization_pct"] = max(peak["utilization_pct"], float(gpu.get("utilization_pct") or 0.0))
            peak["memory_used_mb"] = max(peak["memory_used_mb"], float(gpu.get("memory_used_mb") or 0.0))
    return {"samples": len(samples), "cpu_percent": describe(cpu), "rss_mb": describe(rss), "gpu_peaks": gpus,
            "gpu_status": str(samples[-1].get("gpu_status", ""))}


def build_report(log: ShowLogLines) -> dict[str, Any]:
    """Everything the post-show report shows, as one JSON-ready dict."""
    started = next(iter(log.of("show_started")), {})
    ended = next(iter(log.of("show_ended")), None)
    end_s = max((_t(r) for r in log.records), default=0.0)
    turns = [r["record"] for r in log.of("turn") if isinstance(r.get("record"), dict)]
    decisions = log.of("moderation")
    return {
        "show": {"path": str(log.path), "started": started.get("ts", log.records[0].get("ts")),
                 "ended": ended.get("ts") if ended else None, "duration_s": round(end_s, 3),
                 "complete": ended is not None, "persona": started.get("persona"), "version": started.get("version"),
                 "broken_lines": log.broken},
        "turns": turns_summary(turns),
        "first_audio_ms": first_audio(turns),
        "blocks_by_rule": blocks_by_rule(decisions),
        "incidents": {"panics": panics(log), "outages": outages(log, end_s), "errors": errors(log, turns)},
        "top_chatters": top_chatters(turns, decisions),
        "telemetry": telemetry(log.of("telemetry")),
    }


def turn_rows(log: ShowLogLines) -> Iterable[dict[str, Any]]:
    """One flat row per turn for CSV: identity, text, outcome and every latency figure."""
    for line in log.of("turn"):
        turn = line.get("record") or {}
        row = {"ts": line.get("ts"), "t": line.get("t"), "turn": turn.get("turn"), "source": turn.get("source"),
               "origin": turn.get("origin"), "author": turn.get("author"), "transcript": turn.get("transcript"),
               "spoken": turn.get("spoken"), "rejected": turn.get("rejected", ""),
               "interrupted": turn.get("interrupted"), "error": turn.get("error", "")}
        row.update({f"{stage}_ms": value for stage, value in (turn.get("latency_ms") or {}).items()})
        yield row


def telemetry_rows(log: ShowLogLines) -> Iterable[dict[str, Any]]:
    """One flat row per telemetry sample for CSV (GPU columns per GPU index)."""
    for sample in log.of("telemetry"):
        row = {"ts": sample.get("ts"), "t": sample.get("t"), "cpu_percent": sample.get("cpu_percent"),
               "rss_mb": sample.get("rss_mb")}
        for gpu in sample.get("gpus") or []:
            prefix = f"gpu{gpu.get('index', 0)}"
            row.update({f"{prefix}_utilization_pct": gpu.get("utilization_pct"),
                        f"{prefix}_memory_used_mb": gpu.get("memory_used_mb"),
                        f"{prefix}_temperature_c": gpu.get("temperature_c")})
        yield row
