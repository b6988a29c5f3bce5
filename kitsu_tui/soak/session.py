"""Recorded sessions: a folder with session.jsonl (timed chat/voice events) and the voice WAVs, for replay.

Format (one JSON object per line):
  {"kitsu_session": 1, "created": "2025-01-01T20:00:00+00:00", "persona": "kitsu"}   header
  {"t": 3.2, "type": "chat", "user": "pixelfox", "text": "hi kitsu!", "delay": 0.4}
  {"t": 9.8, "type": "voice", "file": "voice-0002.wav", "transcript": "what games do you like"}
`t` is seconds since the session started; `transcript` is what kitsu heard when it was recorded, and a
replay reports any utterance heard differently.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any, TextIO

from kitsu_tui.audio.wav import AudioFileError, load_wav, write_wav
from kitsu_tui.soak.plan import ChatItem, Item, PlanError, VoiceItem, parse_chat_line

SESSION_FILE = "session.jsonl"
FORMAT_VERSION = 1


class SessionWriter:
    """Appends every fed item (and, for voice, what was heard) to DIR/session.jsonl, copying voice audio."""

    def __init__(self, directory: Path, persona: str = "") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stream: TextIO = open(self.directory / SESSION_FILE, "w", encoding="utf-8")  # noqa: SIM115
        self._started = time.monotonic()
        self._voices = 0
        self._write({"kitsu_session": FORMAT_VERSION, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "persona": persona})

    def _write(self, payload: dict[str, Any]) -> None:
        """One line, flushed (a killed soak still leaves a usable session)."""
        self._stream.write(json.dumps(payload, ensure_ascii=False) + "\n")
        self._stream.flush()

    def add(self, item: Item, heard: str | None = None) -> None:
        """Record a chat message, or a voice clip (written as voice-NNNN.wav at 16 kHz) with its transcript."""
        t = round(time.monotonic() - self._started, 3)
        if isinstance(item, ChatItem):
            self._write({"t": t, "type": "chat", "user": item.user, "text": item.text, "delay": item.delay})
            return
        self._voices += 1
        name = f"voice-{self._voices:04d}.wav"
        write_wav(self.directory / name, item.audio, 16000)
        self._write({"t": t, "type": "voice", "file": name, "transcript": heard or "", "source": item.label})

    def close(self) -> None:
        """Close session.jsonl."""
        if not self._stream.closed:
            self._stream.close()


def read_session(directory: Path) -> tuple[list[Item], list[str]]:
    """The items of a recorded session in order, and one problem line per broken line (skipped)."""
    folder = Path(directory)
    path = folder / SESSION_FILE
    if not path.is_file():
        raise PlanError(f"{folder}: no {SESSION_FILE} here; record one with `kitsu soak --record-session DIR`")
    items: list[Item] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _parse_event(folder, line)
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}; line skipped")
            continue
        if item is not None:
            items.append(item)
    if not items:
        raise PlanError(f"{path}: holds no chat or voice events to replay")
    return items, problems


def _parse_event(folder: Path, line: str) -> Item | None:
    """One session line: a chat or voice item, None for the header; ValueError when broken."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "kitsu_session" in data:
        if data["kitsu_session"] != FORMAT_VERSION:
            raise ValueError(f"session format {data['kitsu_session']!r} is not {FORMAT_VERSION}")
        return None
    kind = data.get("type")
    if kind == "chat":
        return parse_chat_line(line)
    if kind == "voice":
        name = data.get("file")
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise ValueError('"file" must name a WAV inside the session folder')
        try:
            audio = load_wav(folder / name)
        except (AudioFileError, OSError) as exc:
            raise ValueError(f"{exc}") from None
        expect = data.get("transcript")
        return VoiceItem(label=name, audio=audio, expect=expect if isinstance(expect, str) else None)
    raise ValueError(f'"type" must be "chat" or "voice", not {kind!r}')
