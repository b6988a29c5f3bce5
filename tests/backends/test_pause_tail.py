"""Real Whisper on sentences with a pause inside (espeak-ng voices, dev-corpus lines, not the held-out set): when the
whole utterance's transcript stops at the pause, the tail transcribed alone brings the second half back."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from kitsu_tui.engine.pausejoin import join_tail, stopped_at_pause
from kitsu_tui.soak.turntaking import holds_second_half
from kitsu_tui.soak.voiceset import Voice, build_item

if TYPE_CHECKING:
    from kitsu_tui.backends.asr_whisper import WhisperAsr

pytestmark = [pytest.mark.models,
              pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                 reason="espeak-ng is not installed (bash scripts/dev.sh install --with-tests)")]

RATE = 16000
PRE_ROLLS_MS = (100, 200, 300)
"""Silence before the voice: the listener keeps 300 ms before the first voiced frame, and its 32 ms frames and the
VAD's onset lag shift that. Whisper's stop at a pause depends on the window, so each clip is tried at each."""
SILENCE_AFTER = RATE * 48 // 1000
"""The early transcript is taken after ~32 ms of silence, plus the VAD's lag: 48 ms of trailing silence."""

PAUSED = [  # (first half, second half, pause ms, one breath?, voice): dev-corpus lines cut mid-sentence
    ("okay real question", "do foxes bark", 360, False, Voice("en+max", 159, 51)),
    ("I have an exam tomorrow so I can", "only stay for a bit", 323, True, Voice("en-us+m2", 194, 38)),
    ("okay so how do you", "stay so energetic every single stream", 378, True, Voice("en-gb-x-gbcwmd+paul", 135, 52)),
    ("why do you always yawn", "when the chat gets quiet", 491, False, Voice("en+f3", 143, 38)),
    ("what would you name", "a pet hamster", 303, False, Voice("en-gb-x-gbclan+quincy", 187, 51)),
    ("what should I make", "for dinner tonight", 506, False, Voice("en-gb-x-gbclan+rob", 146, 51)),
    ("today was my first day at the new job", "and it went pretty well", 616, False, Voice("en+f4", 178, 63)),
    ("I adopted a kitten last weekend and", "she is tiny", 483, True, Voice("en-us+aunty", 177, 35)),
]


def final_transcript(asr: WhisperAsr, first: str, second: str, pause_ms: int, continuous: bool, voice: Voice,
                     cache: Path, pre_roll_ms: int) -> tuple[str, bool]:
    """The transcript the listener ends with (the whole utterance's, repaired at the pause), and whether it was."""
    item = build_item("dev", voice, first, second, pause_ms, cache, continuous)
    lead = RATE * pre_roll_ms // 1000
    audio = np.concatenate([np.zeros(lead, np.float32), item.audio, np.zeros(SILENCE_AFTER, np.float32)])
    assert item.second_start is not None
    resumed = lead + item.second_start
    pause_start = resumed - pause_ms * RATE // 1000
    head = asr.transcribe(audio[:pause_start + SILENCE_AFTER]).text
    whole = asr.transcribe(audio).text
    if not stopped_at_pause(whole, head):
        return whole, False
    tail = asr.transcribe(audio[resumed - RATE * 160 // 1000:]).text  # from 160 ms before the voice resumed
    joined = join_tail(whole, tail)
    return joined or whole, joined is not None


def test_the_answered_transcript_holds_the_second_half(real_asr: WhisperAsr, tmp_path_factory: pytest.TempPathFactory,
                                                        ) -> None:
    cache = tmp_path_factory.mktemp("espeak")
    repaired, missing = 0, []
    for first, second, pause_ms, continuous, voice in PAUSED:
        for pre_roll_ms in PRE_ROLLS_MS:
            text, joined = final_transcript(real_asr, first, second, pause_ms, continuous, voice, cache, pre_roll_ms)
            repaired += joined
            if not holds_second_half(text, first, second):
                missing.append((first, pre_roll_ms, text))
    assert not missing, missing
    assert repaired >= 1, "no clip had its transcript stop at the pause: the check was not exercised"
