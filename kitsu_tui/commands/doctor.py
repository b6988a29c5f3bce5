"""`kitsu doctor [--json] [--no-load]`: the preflight, one go / no-go row per check with its fix."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from kitsu_tui.commands.doctor_checks import (
    CheckResult,
    check_disk,
    check_memory,
    check_microphone,
    check_moderation,
    check_persona,
    check_speakers,
    check_writable,
    load_models,
    model_files,
)
from kitsu_tui.commands.doctor_remote import remote_checks
from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.settings import Settings, default_config_path, load_settings

LABELS = {"go": "GO", "no-go": "NO-GO", "warn": "WARN", "skipped": "SKIP"}


async def run_checks(settings: Settings, load: bool = True) -> list[CheckResult]:
    """Every check, in the order an operator reads them; blocking probes run on threads."""
    persona_row, persona = check_persona(settings)
    rows = [persona_row]
    rows.append(await asyncio.to_thread(check_microphone, settings))
    rows.append(await asyncio.to_thread(check_speakers, settings))
    if load:
        rows += await asyncio.to_thread(load_models, settings, persona)
    else:
        rows += await asyncio.to_thread(model_files, settings)
    rows.append(check_moderation(settings))
    rows.append(check_writable("log dir", Path(settings.paths.log_dir),
                               "make it writable or set paths.log_dir / KITSU_LOG_ROOT"))
    rows.append(check_writable("data dir", Path(settings.paths.data_dir), "make it writable or set paths.data_dir"))
    rows.append(check_disk(Path(settings.paths.log_dir)))
    rows.append(check_memory(settings))
    rows += await remote_checks(settings)
    return rows


def format_table(rows: list[CheckResult]) -> str:
    """status, check, what was found, and the fix: one line per check (long text wraps under its column)."""
    name_w = max(len(r.name) for r in rows)
    lines = [f"{'':<6} {'check':<{name_w}}  result", "-" * (name_w + 40)]
    for row in rows:
        lines.append(f"{LABELS[row.status]:<6} {row.name:<{name_w}}  {row.detail}")
        if row.fix and row.status in ("no-go", "warn"):
            lines.append(f"{'':<6} {'':<{name_w}}  fix: {row.fix}")
    return "\n".join(lines)


def verdict(rows: list[CheckResult]) -> str:
    """One closing line: GO, or NO-GO with the failing checks."""
    failing = [r.name for r in rows if r.status == "no-go"]
    warned = sum(1 for r in rows if r.status == "warn")
    if failing:
        return f"NO-GO: {', '.join(failing)}"
    return "GO" + (f" ({warned} warning{'s' if warned != 1 else ''})" if warned else "")


def doctor_command(config: Path | None = None, as_json: bool = False, load: bool = True,
                   out: TextIO | None = None) -> int:
    """Run the preflight; 0 when every check is go, warn or skipped, 1 on any no-go."""
    stream = out or sys.stdout
    try:
        settings = load_settings(config)
        source = str(config or default_config_path()) if (config or default_config_path().exists()) else "embedded defaults"
        rows = [CheckResult("config", "go", source)]
    except ConfigError as exc:
        rows = [CheckResult("config", "no-go", "; ".join(exc.problems) or str(exc), "fix the key on the line named above")]
        settings = None
    if settings is not None:
        rows += asyncio.run(run_checks(settings, load))
    go = not any(r.status == "no-go" for r in rows)
    if as_json:
        stream.write(json.dumps({"go": go, "verdict": verdict(rows), "checks": [r.to_dict() for r in rows]},
                                indent=2) + "\n")
    else:
        stream.write(format_table(rows) + "\n" + verdict(rows) + "\n")
    return 0 if go else 1
