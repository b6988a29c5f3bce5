"""What a soak feeds the engine: chat items and voice items, read from a chat JSONL file or a WAV folder."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kitsu_tui.audio.base import Audio
from kitsu_tui.audio.wav import AudioFileError, load_wav


class PlanError(ValueError):
    """A soak input cannot be used at all; str() is one line naming the cause and the fix."""


@dataclass
class ChatItem:
    """One chat message: who sent it, the text, and the pause (seconds) before it is sent."""

    user: str
    text: str
    delay: float = 0.0

    def describe(self) -> dict[str, Any]:
        """The item as stored in a summary's `input` field."""
        return {"kind": "chat", "user": self.user, "text": self.text, "delay": self.delay}


@dataclass
class VoiceItem:
    """One utterance fed as the microphone: its 16 kHz samples, a label, and the transcript expected on replay."""

    label: str
    audio: Audio = field(repr=False)
    expect: str | None = None
    delay: float = 0.0

    def describe(self) -> dict[str, Any]:
        """The item as stored in a summary's `input` field."""
        out: dict[str, Any] = {"kind": "voice", "file": self.label, "seconds": round(self.audio.size / 16000, 2)}
        if self.expect is not None:
            out["expected_transcript"] = self.expect
        return out


Item = ChatItem | VoiceItem

CHAT_LINE_HELP = 'each line must be a JSON object like {"user": "name", "text": "hello", "delay": 1.5}'


def parse_chat_line(line: str) -> ChatItem:
    """One JSONL chat line; raises ValueError with the reason."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('"text" is missing or empty')
    user = data.get("user", "chat")
    if not isinstance(user, str):
        raise ValueError('"user" must be a string')
    delay = data.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError('"delay" must be a number of seconds >= 0')
    return ChatItem(user=user or "chat", text=text.strip(), delay=float(delay))


def read_chat_file(path: Path) -> tuple[list[ChatItem], list[str]]:
    """The usable messages of a chat JSONL file and one problem line per broken line (which is skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the chat file ({exc.strerror or exc}); check the path") from None
    items: list[ChatItem] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(parse_chat_line(line))
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}; line skipped ({CHAT_LINE_HELP})")
    if not items:
        raise PlanError(f"{path}: no usable chat messages; {CHAT_LINE_HELP}")
    return items, problems


def read_utterances(directory: Path) -> list[VoiceItem]:
    """Every *.wav in a folder (sorted by name), resampled to 16 kHz mono; a bad file is a PlanError."""
    folder = Path(directory)
    if not folder.is_dir():
        raise PlanError(f"{folder}: not a folder; pass a folder of WAV files to --utterances")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not paths:
        raise PlanError(f"{folder}: holds no .wav files; record or synthesize some utterances first")
    items = []
    for path in paths:
        try:
            audio = load_wav(path)
        except (AudioFileError, OSError) as exc:
            raise PlanError(f"{exc}") from None
        if not has_signal(audio):
            raise PlanError(f"{path}: holds only silence, so it can never start a turn; remove it")
        items.append(VoiceItem(label=path.name, audio=audio))
    return items


T = TypeVar("T")


def interleave(*streams: Sequence[T]) -> list[T]:
    """Round-robin over several finite lists (chat and voice alternate when both are given)."""
    out: list[T] = []
    longest = max((len(s) for s in streams), default=0)
    for index in range(longest):
        out.extend(stream[index] for stream in streams if index < len(stream))
    return out


def cycled(items: Sequence[T], repeat: bool) -> Iterator[T]:
    """The items once, or over and over when a duration/turn limit will stop the run."""
    while True:
        yield from items
        if not repeat:
            return


def has_signal(audio: Audio) -> bool:
    """True when a clip has any signal at all (an all-zero WAV can never make a turn)."""
    return bool(audio.size) and float(np.max(np.abs(audio))) > 1e-4

