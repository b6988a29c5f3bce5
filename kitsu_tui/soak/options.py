"""What `kitsu soak` was asked to do, and the turn source (the plan) built from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kitsu_tui.soak.chatgen import SyntheticChat
from kitsu_tui.soak.plan import (
    Item,
    PlanError,
    VoiceItem,
    cycled,
    interleave,
    read_chat_file,
    read_utterances,
)
from kitsu_tui.soak.session import read_session


@dataclass
class SoakOptions:
    """Everything `kitsu soak` was asked to do."""

    max_turns: int | None = None
    duration_minutes: float | None = None
    chat_file: Path | None = None
    utterances: Path | None = None
    replay: Path | None = None
    record_session: Path | None = None
    output: Path | None = None
    max_error_rate: float = 0.05
    seed: int = 7
    turn_timeout_s: float = 120.0
    progress: bool = True
    keep_memory: bool = False
    faults: str | None = None
    """--faults SPEC: 'default' or KIND[@START][+DURATION],... (see soak/faultspec.py)."""


@dataclass
class Plan:
    """The items to feed, whether they are finite and have voice, and the broken input lines skipped."""

    items: Iterator[Item]
    source: str
    has_voice: bool
    problems: list[str]


def build_plan(options: SoakOptions) -> Plan:
    """Pick the turn source: a replayed session, a chat file and/or utterances, else synthetic chat."""
    limited = bool(options.max_turns or options.duration_minutes)
    if options.replay is not None:
        items, problems = read_session(options.replay)
        has_voice = any(isinstance(i, VoiceItem) for i in items)
        return Plan(cycled(items, limited), f"replay:{options.replay}", has_voice, problems)
    chat: list[Item] = []
    voice: list[Item] = []
    problems = []
    if options.chat_file is not None:
        parsed, problems = read_chat_file(options.chat_file)
        chat = list(parsed)
    if options.utterances is not None:
        voice = list(read_utterances(options.utterances))
    if chat or voice:
        source = "+".join(n for n, s in (("chat-file", chat), ("utterances", voice)) if s)
        return Plan(cycled(interleave(voice, chat), limited), source, bool(voice), problems)
    if not limited:
        raise PlanError("synthetic chat never ends: give --max-turns N or --duration-minutes M")
    return Plan(iter(SyntheticChat(options.seed)), f"synthetic(seed={options.seed})", False, [])


def planned_duration_s(options: SoakOptions) -> float | None:
    """The soak's planned length in seconds (None when only --max-turns limits it)."""
    return options.duration_minutes * 60 if options.duration_minutes else None
