"""`kitsu run --headless` with the real embedded models: voice in, speech out, heard back by the real ASR."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import KITSU

if TYPE_CHECKING:
    from kitsu_tui.backends.asr_whisper import WhisperAsr

pytestmark = pytest.mark.models


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if len(w) > 2}


def run_kitsu(args: list[str], home: tuple[Path, dict[str, str]], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cwd, env = home
    return subprocess.run([KITSU, "run", "--headless", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_voice_turn_end_to_end(utterance_wav: Path, kitsu_home: tuple[Path, dict[str, str]], real_asr: WhisperAsr) -> None:
    from kitsu_tui.audio.wav import load_wav

    record_dir = kitsu_home[0] / "replies"
    proc = run_kitsu(["--input", str(utterance_wav), "--record", str(record_dir)], kitsu_home)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 1, proc.stdout  # stdout holds only the JSON stream
    turn = lines[0]
    assert turn["source"] == "voice"
    assert {"favorite", "color"} <= words(turn["transcript"]), turn["transcript"]
    assert turn["reply"].strip() and turn["spoken"].strip()
    latency = turn["latency_ms"]
    for stage in ("endpointing", "asr_final", "llm_first_token", "first_clause", "tts_first_audio", "first_audio"):
        assert latency[stage] >= 0, stage
    assert latency["first_audio"] >= latency["endpointing"]
    # the reply WAV holds speech that the real ASR hears as words of the reply
    wav = Path(turn["recording"])
    assert wav.parent == record_dir and wav.exists()
    heard = real_asr.transcribe(load_wav(wav)).text
    overlap = words(heard) & words(turn["spoken"])
    assert overlap, f"ASR heard {heard!r} in a reply that said {turn['spoken']!r}"


def test_chat_turns_and_bad_input(kitsu_home: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    proc = run_kitsu(["--chat", "hi kitsu, how are you?", "--chat", "what do foxes eat?"], kitsu_home)
    assert proc.returncode == 0, proc.stderr
    turns = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [t["source"] for t in turns] == ["chat", "chat"]
    assert all(t["reply"] and t["latency_ms"]["first_audio"] > 0 for t in turns)
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio")
    bad = run_kitsu(["--input", str(bogus)], kitsu_home, timeout=60)
    assert bad.returncode != 0 and bad.stdout == ""
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "notes.wav" in lines[0], bad.stderr
