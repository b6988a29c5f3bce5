"""The espeak-ng held-out set: its size, voices, pauses, offsets, cache, and the bench without espeak-ng."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kitsu_tui.audio.base import PIPELINE_RATE
from kitsu_tui.soak.bench import VOICE_LINES
from kitsu_tui.soak.heldout import held_out_set
from kitsu_tui.soak.voiceset import (
    COMPLETE_LINES,
    PAUSED_LINES,
    SILENCE_LEVEL,
    HeldOutItem,
    VoicesetError,
    build_voiceset,
    pick_voices,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (bash scripts/dev.sh install --with-tests)")


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[HeldOutItem]:
    """The whole set, synthesized once for this module into a private cache."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/dev.sh install --with-tests)")
    return build_voiceset(cache_dir=tmp_path_factory.mktemp("voiceset"))


def loud(audio: np.ndarray) -> bool:
    """Whether a stretch of samples holds speech."""
    return bool(audio.size) and float(np.max(np.abs(audio))) > SILENCE_LEVEL


def test_the_lines_are_held_out_from_the_bench_lines() -> None:
    assert len(COMPLETE_LINES) >= 30 and len(PAUSED_LINES) >= 20
    spoken = {line.lower() for line in COMPLETE_LINES} | {f"{a} {b}".lower() for a, b in PAUSED_LINES}
    assert not spoken & {line.lower() for line in VOICE_LINES}
    assert len(spoken) == len(COMPLETE_LINES) + len(PAUSED_LINES)


def test_voices_are_spread_and_reproducible() -> None:
    voices = pick_voices(48, seed=12)
    assert voices == pick_voices(48, seed=12) and voices != pick_voices(48, seed=13)
    assert len({v.name for v in voices}) == 48
    assert len({v.name.split("+")[0] for v in voices}) >= 8


@needs_espeak
def test_counts_voices_and_pauses(items: list[HeldOutItem]) -> None:
    paused = [i for i in items if i.paused]
    assert len(items) - len(paused) >= 30 and len(paused) >= 20
    assert len({i.voice.name for i in items}) >= 8
    assert all(300 <= i.pause_ms <= 700 for i in paused if i.prosody == "separate")
    assert all(250 <= i.pause_ms <= 800 for i in paused if i.prosody == "continuous")  # measured in the clip
    assert {i.prosody for i in paused} == {"separate", "continuous"}
    assert all(i.pause_ms == 0 and not i.second for i in items if not i.paused)
    assert len({i.label for i in items}) == len(items)
    meta = paused[0].metadata()
    assert meta["text"] == f"{meta['first']} {meta['second']}" and meta["rate"] == PIPELINE_RATE


@needs_espeak
def test_offsets_match_the_audio(items: list[HeldOutItem]) -> None:
    ms = PIPELINE_RATE // 1000
    for item in items:
        assert item.audio.dtype == np.float32 and item.speech_end == item.audio.size
        assert not loud(item.audio[: item.speech_start]) and loud(item.audio[item.speech_start: item.speech_start + 30 * ms])
        assert loud(item.audio[item.speech_end - 30 * ms: item.speech_end])
        if item.second_start is None:
            continue
        gap = item.audio[item.second_start - item.pause_ms * ms: item.second_start]
        assert gap.size == item.pause_ms * ms and not loud(gap)
        assert loud(item.audio[item.second_start - item.pause_ms * ms - 30 * ms: item.second_start - item.pause_ms * ms])
        assert loud(item.audio[item.second_start: item.second_start + 30 * ms])
        assert item.voice_item().audio is item.audio and item.voice_item().label == item.label


@needs_espeak
def test_a_second_build_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_voiceset(cache_dir=tmp_path, complete=3, paused=2)
    files = sorted(tmp_path.glob("*.wav"))
    assert len(files) == 3 + sum(1 if i.prosody == "continuous" else 2 for i in first if i.paused)

    def no_espeak(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        raise AssertionError("espeak-ng ran although the cache held every clip")

    monkeypatch.setattr(subprocess, "run", no_espeak)
    again = build_voiceset(cache_dir=tmp_path, complete=3, paused=2)
    assert [i.metadata() for i in again] == [i.metadata() for i in first]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, again, strict=True))
    assert sorted(tmp_path.glob("*.wav")) == files


def test_missing_espeak_is_one_line_and_the_bench_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(VoicesetError, match="espeak-ng is not installed"):
        build_voiceset(complete=1, paused=0)
    err = io.StringIO()
    assert held_out_set("espeak", err) == []
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kitsu: espeak-ng is not installed")
    assert "goes on without the held-out voices" in lines[0]
    assert held_out_set("piper", err) == [] and len(err.getvalue().splitlines()) == 1
