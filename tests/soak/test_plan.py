"""Soak inputs: chat JSONL (broken lines reported with their number), utterance folders, sessions, synthetic chat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.wav import write_wav
from kitsu_tui.soak.chatgen import SyntheticChat
from kitsu_tui.soak.options import SoakOptions, build_plan
from kitsu_tui.soak.plan import (
    ChatItem,
    PlanError,
    VoiceItem,
    cycled,
    interleave,
    read_chat_file,
    read_utterances,
)
from kitsu_tui.soak.session import SessionWriter, read_session

from .conftest import tone_wav


def test_chat_file_broken_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_text('{"user": "ann", "text": "hi kitsu", "delay": 0.5}\n'
                    '{"user": "bob", "text": "oops"\n'
                    "\n"
                    '{"user": "cy", "text": "   "}\n'
                    '{"user": "dee", "text": "ok", "delay": -1}\n'
                    '["not", "an", "object"]\n'
                    '{"text": "no user is fine"}\n')
    items, problems = read_chat_file(path)
    assert items == [ChatItem("ann", "hi kitsu", 0.5), ChatItem("chat", "no user is fine", 0.0)]
    assert [p.split(": ")[0] for p in problems] == [f"{path}:2", f"{path}:4", f"{path}:5", f"{path}:6"]
    assert "not valid JSON" in problems[0] and "line skipped" in problems[0] and '"delay"' in problems[2]


def test_unusable_inputs_are_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("garbage\n")
    with pytest.raises(PlanError, match="no usable chat messages"):
        read_chat_file(empty)
    with pytest.raises(PlanError, match="cannot read the chat file"):
        read_chat_file(tmp_path / "missing.jsonl")
    with pytest.raises(PlanError, match="holds no .wav files"):
        read_utterances(tmp_path)
    silent = tmp_path / "silent"
    silent.mkdir()
    write_wav(silent / "a.wav", np.zeros(8000, np.float32), 16000)
    with pytest.raises(PlanError, match="only silence"):
        read_utterances(silent)
    with pytest.raises(PlanError, match="--max-turns"):
        build_plan(SoakOptions())


def test_utterances_are_resampled_and_sorted(tmp_path: Path) -> None:
    tone_wav(tmp_path / "b.wav", 0.5, rate=22050)
    tone_wav(tmp_path / "a.wav", 1.0)
    items = read_utterances(tmp_path)
    assert [i.label for i in items] == ["a.wav", "b.wav"]
    assert items[0].audio.size == 16000 and abs(items[1].audio.size - 8000) <= 2


def test_interleave_and_cycle() -> None:
    a, b = [ChatItem("a", "1"), ChatItem("a", "2")], [ChatItem("b", "x")]
    assert [i.text for i in interleave(a, b)] == ["1", "x", "2"]
    endless = cycled(list(a), repeat=True)
    assert [next(endless).text for _ in range(5)] == ["1", "2", "1", "2", "1"]
    assert [i.text for i in cycled(list(a), repeat=False)] == ["1", "2"]


def test_synthetic_chat_is_seeded_and_varied() -> None:
    first = [next(SyntheticChat(seed=3)) for _ in range(1)]
    again = SyntheticChat(seed=3)
    run = [next(again) for _ in range(60)]
    assert run[0] == first[0]
    assert run != [next(SyntheticChat(seed=4)) for _ in range(60)]
    assert len({m.text for m in run}) > 40 and len({m.user for m in run}) > 10
    assert any("?" in m.text for m in run) and all(m.text.strip() and 0 <= m.delay <= 0.5 for m in run)


def test_session_round_trip(tmp_path: Path) -> None:
    clip = tone_wav(tmp_path / "q.wav", 0.4)
    voice = read_utterances(tmp_path)[0]
    writer = SessionWriter(tmp_path / "session", persona="kitsu")
    writer.add(ChatItem("ann", "hello", 0.25))
    writer.add(voice, heard="hello kitsu")
    writer.close()
    (tmp_path / "session" / "session.jsonl").open("a").write('{"type": "dance"}\n')
    items, problems = read_session(tmp_path / "session")
    assert items[0] == ChatItem("ann", "hello", 0.25)
    assert isinstance(items[1], VoiceItem) and items[1].label == "voice-0001.wav" and items[1].expect == "hello kitsu"
    assert np.allclose(items[1].audio, voice.audio, atol=1e-4)
    assert len(problems) == 1 and ":4:" in problems[0] and "dance" in problems[0]
    assert clip.exists()
    with pytest.raises(PlanError, match="record one"):
        read_session(tmp_path)
