"""`kitsu report [SHOW.jsonl | --latest] [--json] [--csv DIR]`: the post-show report from a show log."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.soak.report import ShowLogError, build_report, read_show_log, telemetry_rows, turn_rows
from kitsu_tui.telemetry.showlog import latest_show, shows_dir


def _ms(stats: dict[str, Any]) -> str:
    """'p50 335 / p95 472 ms (n=10)' or 'none'."""
    if not stats.get("count"):
        return "none"
    return f"p50 {stats['p50']:.0f} / p95 {stats['p95']:.0f} / max {stats['max']:.0f} ms (n={stats['count']})"


def _counts(counts: dict[str, int]) -> str:
    """'a 3, b 1' or 'none'."""
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "none"


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text sections for the operator."""
    show, turns, incidents = report["show"], report["turns"], report["incidents"]
    lines = [f"show      {show['path']}",
             f"          {show['started']} -> {show['ended'] or 'no end record (crashed or still running)'}, "
             f"{show['duration_s']:.0f} s, persona {show['persona'] or '?'}"]
    if show["broken_lines"]:
        lines.append(f"          {len(show['broken_lines'])} unreadable lines (first: {show['broken_lines'][0]})")
    lines.append(f"turns     {turns['total']} ({_counts(turns['by_source'])}): {turns['answered']} answered, "
                 f"{turns['refused']} refused, {turns['interrupted']} interrupted, {turns['failed']} failed")
    if turns["refused_by_reason"]:
        lines.append(f"refused   {_counts(turns['refused_by_reason'])}")
    for source, stats in report["first_audio_ms"].items():
        lines.append(f"first audio {source:<6} {_ms(stats)}")
    for stage, counts in report["blocks_by_rule"].items() or [("input/output", {})]:
        lines.append(f"blocked   {stage}: {_counts(counts)}")
    lines.append(f"panics    {len(incidents['panics'])}")
    for panic in incidents["panics"]:
        held = f"cleared after {panic['duration_s']:.1f} s" if panic["duration_s"] is not None else "never cleared"
        steps = "; ".join(f"{s['module']} {', '.join(s['steps'] or []) or s['error'] or 'done'} ({s['elapsed_ms']:.0f} ms)"
                          for s in panic["steps"] if s.get("engaged"))
        lines.append(f"          at {panic['at_s']:.1f} s by {panic['by']}, {held}" + (f"; {steps}" if steps else ""))
    lines.append(f"outages   {len(incidents['outages'])}")
    for outage in incidents["outages"]:
        until = "until the end" if outage["ongoing"] else f"back {outage.get('ended_by', 'on')}"
        lines.append(f"          {outage['module']} at {outage['from_s']:.1f} s for {outage['duration_s']:.1f} s "
                     f"({until}): {outage['reason']}")
    lines.append(f"errors    {len(incidents['errors'])}")
    for error in incidents["errors"][:20]:
        lines.append(f"          {error['at_s']:.1f} s {error['kind']} {error['where']}: {error['message'][:160]}")
    chatters = report["top_chatters"]
    lines.append("chatters  " + (", ".join(f"{c['author']} {c['lines']} ({c['answered']} answered)" for c in chatters)
                                 or "none"))
    tele = report["telemetry"]
    if tele["samples"]:
        lines.append(f"telemetry {tele['samples']} samples; cpu p50 {tele['cpu_percent']['p50']:.0f} % "
                     f"max {tele['cpu_percent']['max']:.0f} %; rss max {tele['rss_mb']['max']:.0f} MB; "
                     + (_counts({k: int(v['utilization_pct']) for k, v in tele['gpu_peaks'].items()}) + " % GPU peak"
                        if tele["gpu_peaks"] else tele["gpu_status"] or "no GPU"))
    else:
        lines.append("telemetry no samples ([telemetry] enabled = false?)")
    return "\n".join(lines)


def write_csv(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows with the union of their keys as the header (first-seen order); returns the row count."""
    materialized = list(rows)
    header: dict[str, None] = {}
    for row in materialized:
        header.update(dict.fromkeys(row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(materialized)
    return len(materialized)


def report_command(show: Path | None, latest: bool, log_dir: Path, as_json: bool = False,
                   csv_dir: Path | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the report of one show log (0), or one `kitsu:` line with the fix (2)."""
    stream, errors = out or sys.stdout, err or sys.stderr
    if show is None and not latest:
        errors.write("kitsu: name a show log (SHOW.jsonl) or pass --latest\n")
        return 2
    path = show if show is not None else latest_show(log_dir)
    if path is None:
        errors.write(f"kitsu: no show logs in {shows_dir(log_dir)}: `kitsu run` writes one per show "
                     "(set paths.log_dir or KITSU_LOG_ROOT if they are elsewhere)\n")
        return 2
    try:
        log = read_show_log(path)
    except ShowLogError as exc:
        errors.write(f"kitsu: {exc}\n")
        return 2
    report = build_report(log)
    if csv_dir is not None:
        try:
            csv_dir.mkdir(parents=True, exist_ok=True)
            report["csv"] = {"turns": str(csv_dir / "turns.csv"), "telemetry": str(csv_dir / "telemetry.csv"),
                             "turn_rows": write_csv(csv_dir / "turns.csv", turn_rows(log)),
                             "telemetry_rows": write_csv(csv_dir / "telemetry.csv", telemetry_rows(log))}
        except OSError as exc:
            errors.write(f"kitsu: cannot write CSV files into {csv_dir}: {exc.strerror or exc}\n")
            return 2
    if as_json:
        stream.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        stream.write(format_report(report) + "\n")
        if "csv" in report:
            stream.write(f"csv       {report['csv']['turns']} ({report['csv']['turn_rows']} rows), "
                         f"{report['csv']['telemetry']} ({report['csv']['telemetry_rows']} rows)\n")
    return 0
