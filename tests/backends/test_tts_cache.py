"""The TTS disk cache: hits and misses, what the key depends on, LRU eviction under the cap, writers in several
threads and processes at once, and corrupt or half-written entries read as misses and removed."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.backends.base import Audio
from kitsu_tui.backends.tts_cache import TEMP_PREFIX, TtsCache, VoiceIdentity, cache_key
from kitsu_tui.backends.tts_piper import PiperTts

VOICE = VoiceIdentity("piper", "embedded", None, 1.0, 22050)
MB = 1024 * 1024


def tone(n: int, seed: int = 0) -> Audio:
    return np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_put_line_is_a_hit_with_its_metadata_and_others_are_misses(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path / "tts", MB)
    key = cache_key(VOICE, "Hello chat!", 1.0)
    assert cache.get(key) is None  # a miss, and the folder is not even created by a read
    audio = tone(1000)
    cache.put(key, audio, "Hello chat!", VOICE)
    hit = cache.get(key)
    assert hit is not None and hit.dtype == np.float32 and np.array_equal(hit, audio)
    meta = json.loads((tmp_path / "tts" / f"{key}.json").read_text(encoding="utf-8"))
    assert meta["text"] == "Hello chat!" and meta["voice"] == "embedded" and meta["sample_rate"] == 22050
    assert meta["samples"] == 1000 and meta["last_used"] >= meta["created"]
    assert cache.get(cache_key(VOICE, "Hello chat?", 1.0)) is None
    assert entries(tmp_path / "tts") == [f"{key}.json", f"{key}.npy"]  # no temporary file is left behind


def test_the_key_follows_voice_speaker_speed_rate_backend_and_text() -> None:
    base = cache_key(VOICE, "Hi!", 1.0)
    assert base == cache_key(VoiceIdentity("piper", "embedded", None, 1.0, 22050), "Hi!", 1.0)
    others = [
        cache_key(VOICE, "Hi.", 1.0), cache_key(VOICE, "Hi!", 1.1),
        cache_key(replace(VOICE, voice="/voices/amy.onnx"), "Hi!", 1.0),
        cache_key(replace(VOICE, speaker=2), "Hi!", 1.0), cache_key(replace(VOICE, length_scale=0.9), "Hi!", 1.0),
        cache_key(replace(VOICE, sample_rate=16000), "Hi!", 1.0), cache_key(replace(VOICE, backend="coqui"), "Hi!", 1.0),
    ]
    assert len({base, *others}) == len(others) + 1 and all(len(k) == 64 for k in others)


def test_a_piper_voice_names_its_identity(tmp_path: Path) -> None:
    assert PiperTts().cache_identity() == VoiceIdentity("piper", "embedded", None, 1.0, PiperTts().sample_rate)
    custom = PiperTts(voice=str(tmp_path / "amy.onnx"), speaker=3, length_scale=0.8).cache_identity()
    assert custom.voice == str((tmp_path / "amy.onnx").resolve()) and custom.speaker == 3
    assert custom.length_scale == 0.8


def test_the_least_recently_used_entries_go_first_under_the_cap(tmp_path: Path) -> None:
    entry = 40_000 * 4 + 128  # one entry's .npy: 40k float32 samples plus its header
    cache = TtsCache(tmp_path, 2 * entry + 2_000)  # room for two entries with their metadata
    keys = [cache_key(VOICE, f"line {n}", 1.0) for n in range(3)]
    cache.put(keys[0], tone(40_000, 0), "line 0", VOICE)
    time.sleep(0.03)  # file times tick in milliseconds
    cache.put(keys[1], tone(40_000, 1), "line 1", VOICE)
    time.sleep(0.03)
    assert cache.get(keys[0]) is not None  # line 0 is now the most recently used
    time.sleep(0.03)
    cache.put(keys[2], tone(40_000, 2), "line 2", VOICE)
    assert cache.get(keys[1]) is None, "the least recently used entry is evicted"
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    assert cache.size_bytes() <= cache.max_bytes
    off = TtsCache(tmp_path / "off", 0)
    off.put(keys[0], tone(10), "line 0", VOICE)
    assert not off.enabled and off.get(keys[0]) is None and not (tmp_path / "off").exists()


@pytest.mark.parametrize("damage", ["garbage npy", "truncated npy", "garbage json", "other samples", "no json"])
def test_a_corrupt_entry_is_a_miss_and_removed(tmp_path: Path, damage: str) -> None:
    cache = TtsCache(tmp_path, MB)
    key = cache_key(VOICE, "Broken?", 1.0)
    cache.put(key, tone(5000), "Broken?", VOICE)
    npy, meta = tmp_path / f"{key}.npy", tmp_path / f"{key}.json"
    if damage == "garbage npy":
        npy.write_bytes(b"not an array at all")
    elif damage == "truncated npy":
        npy.write_bytes(npy.read_bytes()[:3000])
    elif damage == "garbage json":
        meta.write_text("{half", encoding="utf-8")
    elif damage == "other samples":
        np.save(npy, tone(5000, seed=9))
    else:
        meta.unlink()
    assert cache.get(key) is None
    assert entries(tmp_path) == []
    cache.put(key, tone(5000), "Broken?", VOICE)
    assert cache.get(key) is not None  # written again after the miss


def test_stale_temporary_files_are_cleaned_and_fresh_ones_left_alone(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, MB)
    stale, fresh = tmp_path / f"{TEMP_PREFIX}dead", tmp_path / f"{TEMP_PREFIX}busy"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"y" * 100)
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    cache.put(cache_key(VOICE, "tidy", 1.0), tone(100), "tidy", VOICE)
    assert not stale.exists() and fresh.exists()


def test_threads_writing_and_reading_at_once_never_see_half_an_entry(tmp_path: Path) -> None:
    cache = TtsCache(tmp_path, 300_000)  # small: eviction runs while others write and read
    shared = cache_key(VOICE, "shared line", 1.0)
    expected = tone(4000, 7)
    bad: list[str] = []

    def work(n: int) -> None:
        for i in range(40):
            cache.put(shared, expected, "shared line", VOICE)
            cache.put(cache_key(VOICE, f"line {n} {i}", 1.0), tone(4000, n), f"line {n} {i}", VOICE)
            got = cache.get(shared)
            if got is not None and not np.array_equal(got, expected):
                bad.append(f"thread {n} read a wrong entry")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bad == []
    assert not [name for name in entries(tmp_path) if name.startswith(TEMP_PREFIX)]
    assert cache.size_bytes() <= cache.max_bytes
    cache.put(shared, expected, "shared line", VOICE)
    got = cache.get(shared)
    assert got is not None and np.array_equal(got, expected)


def write_and_read(directory: str, rounds: int) -> int:
    """Child process body: write and read one shared key; returns how many reads were wrong (never a miss)."""
    cache = TtsCache(Path(directory), MB)
    key = cache_key(VOICE, "from two processes", 1.0)
    expected = tone(20_000, 3)
    wrong = 0
    for _ in range(rounds):
        cache.put(key, expected, "from two processes", VOICE)
        got = cache.get(key)
        if got is not None and not np.array_equal(got, expected):
            wrong += 1
    return wrong


def test_two_processes_writing_the_same_key_leave_one_good_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        wrong = pool.starmap(write_and_read, [(str(tmp_path), 60), (str(tmp_path), 60)])
    assert wrong == [0, 0]
    key = cache_key(VOICE, "from two processes", 1.0)
    assert entries(tmp_path) == [f"{key}.json", f"{key}.npy"]
    got = TtsCache(tmp_path, MB).get(key)
    assert got is not None and np.array_equal(got, tone(20_000, 3))
