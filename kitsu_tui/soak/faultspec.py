"""`kitsu soak --faults SPEC`: the fault kinds, their parser and the default schedule spread over a soak."""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS: dict[str, str] = {
    "llm-500": "the LLM server answers HTTP 500",
    "llm-hang": "the LLM server accepts the request and never answers (past the timeout)",
    "llm-refuse": "the LLM server's port refuses connections",
    "llm-cut": "the LLM server's stream is cut mid-reply",
    "tts": "speech synthesis raises on every sentence",
    "output": "the audio output device disappears",
    "db-lock": "another process holds an exclusive lock on the memory DB",
    "disk-full": "the log disk is full (writes fail with ENOSPC)",
    "obs": "OBS is killed (its websocket drops and refuses) and restarted",
    "vts": "the VTube Studio socket is dropped",
}
"""Every fault kind and what it does to the show."""

DEFAULT_SECONDS: dict[str, float] = {
    "llm-500": 20, "llm-hang": 15, "llm-refuse": 20, "llm-cut": 20, "tts": 12,
    "output": 12, "db-lock": 12, "disk-full": 20, "obs": 15, "vts": 10,
}
"""How long each kind lasts when the spec does not say."""

LLM_KINDS = frozenset(k for k in KINDS if k.startswith("llm-"))

_ENTRY = re.compile(r"^(?P<kind>[a-z0-9-]+)(?:@(?P<at>[0-9.]+[sm]?))?(?:\+(?P<len>[0-9.]+[sm]?))?$")

SPEC_HELP = ("give 'default', or a comma list of KIND[@START][+DURATION] such as 'llm-500@30s+20s,tts@2m'; "
             f"kinds: {', '.join(KINDS)}")


class FaultSpecError(ValueError):
    """A --faults value that cannot be parsed; str() is one line with the fix."""


@dataclass(frozen=True)
class Fault:
    """One scheduled fault: its kind, when it starts after feeding began, and how long it lasts (seconds)."""

    kind: str
    at_s: float
    duration_s: float

    @property
    def until_s(self) -> float:
        """When the fault ends."""
        return self.at_s + self.duration_s


def _seconds(text: str) -> float:
    """'90', '90s' or '1.5m' in seconds."""
    if text.endswith("m"):
        return float(text[:-1]) * 60
    return float(text.rstrip("s"))


def parse_faults(spec: str, duration_s: float | None, available: frozenset[str] | None = None) -> list[Fault]:
    """The faults of a spec, in start order; `available` drops kinds this soak cannot inject (default spec only)."""
    spec = spec.strip().lower()
    if spec in ("", "none", "off"):
        return []
    if spec == "default":
        return default_schedule(duration_s, available)
    faults: list[Fault] = []
    entries = [e.strip() for e in spec.split(",") if e.strip()]
    for number, entry in enumerate(entries):
        match = _ENTRY.match(entry)
        if match is None or match["kind"] not in KINDS:
            raise FaultSpecError(f"--faults: cannot read {entry!r}; {SPEC_HELP}")
        kind = match["kind"]
        try:
            at = _seconds(match["at"]) if match["at"] else 20.0 * (number + 1)
            length = _seconds(match["len"]) if match["len"] else DEFAULT_SECONDS[kind]
        except ValueError:
            raise FaultSpecError(f"--faults: bad time in {entry!r}; {SPEC_HELP}") from None
        if length <= 0:
            raise FaultSpecError(f"--faults: {entry!r} lasts no time; give +DURATION above 0")
        faults.append(Fault(kind, at, length))
    return sorted(faults, key=lambda f: f.at_s)


def default_schedule(duration_s: float | None, available: frozenset[str] | None = None) -> list[Fault]:
    """Every available kind in turn, one fault per gap, repeated over the whole soak with clean time between."""
    if not duration_s:
        raise FaultSpecError("--faults default needs --duration-minutes (the schedule is spread over it)")
    kinds = [k for k in KINDS if available is None or k in available]
    if not kinds:
        return []
    gap = max(20.0, min(150.0, duration_s / (len(kinds) * 1.5)))
    faults: list[Fault] = []
    at = gap
    index = 0
    while at + 5 < duration_s:
        kind = kinds[index % len(kinds)]
        faults.append(Fault(kind, round(at, 1), round(min(DEFAULT_SECONDS[kind], gap * 0.6), 1)))
        at += gap
        index += 1
    return faults
