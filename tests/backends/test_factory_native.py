"""build_backends picks implementations from settings and persona; redirect_native_stderr captures fd 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kitsu_tui.backends.asr_whisper import WhisperAsr
from kitsu_tui.backends.factory import build_backends
from kitsu_tui.backends.llm_llama import LlamaLlm
from kitsu_tui.backends.llm_openai import OpenAiLlm
from kitsu_tui.backends.native import redirect_native_stderr
from kitsu_tui.backends.tts_coqui import CoquiTts
from kitsu_tui.backends.tts_piper import PiperTts
from kitsu_tui.backends.vad_silero import SileroVad
from kitsu_tui.config.persona import Persona, VoiceSpec
from kitsu_tui.config.settings import Settings


def test_defaults_are_the_embedded_local_models() -> None:
    backends = build_backends(Settings(), None)
    assert isinstance(backends.vad, SileroVad) and backends.vad.frame_samples == 512
    assert isinstance(backends.asr, WhisperAsr) and backends.asr.model_ref == "embedded"
    assert backends.asr.beam_size == 1 and backends.asr.no_speech_threshold == 0.6
    assert isinstance(backends.llm, LlamaLlm) and backends.llm.model_path == "embedded"
    assert isinstance(backends.tts, PiperTts) and backends.tts.voice_ref == "embedded"


def test_settings_choose_openai_and_pass_options() -> None:
    settings = Settings().with_values({
        "llm.backend": "openai", "llm.base_url": "http://127.0.0.1:1234/v1/", "llm.model": "qwen",
        "llm.retries": 5, "asr.cpu_threads": 1,
    })
    backends = build_backends(settings, None)
    assert isinstance(backends.llm, OpenAiLlm)
    assert backends.llm.base_url == "http://127.0.0.1:1234/v1" and backends.llm.model == "qwen"
    assert backends.llm.retries == 5
    assert isinstance(backends.asr, WhisperAsr) and backends.asr.cpu_threads == 1


def test_persona_voice_overrides_voice_not_speed() -> None:
    settings = Settings().with_values({"tts.length_scale": 1.2})
    persona = Persona(name="Kitsu", voice=VoiceSpec(model="/voices/fox.onnx", speaker=3, speed=2.0))
    tts = build_backends(settings, persona).tts
    assert isinstance(tts, PiperTts)
    assert tts.voice_ref == "/voices/fox.onnx" and tts.speaker == 3 and tts.length_scale == 1.2  # speed is per call
    plain = build_backends(settings, Persona(name="Kitsu")).tts
    assert isinstance(plain, PiperTts) and plain.voice_ref == "embedded" and plain.length_scale == 1.2
    coqui = build_backends(settings, Persona(name="Kitsu", voice=VoiceSpec(backend="coqui", model="/m"))).tts
    assert isinstance(coqui, CoquiTts) and coqui.voice == "/m"


def test_redirect_native_stderr_captures_fd2_and_restores(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "native.log"
    with redirect_native_stderr(log) as path:
        os.write(2, b"native noise from C\n")
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'child noise\\n')"], check=True)
    assert path == log
    text = log.read_text()
    assert "native noise from C" in text and "child noise" in text
    probe = tmp_path / "after.txt"
    with probe.open("w") as handle:
        subprocess.run(
            [sys.executable, "-c", "import os; os.write(2, b'back on fd2\\n')"], check=True, stderr=handle
        )
    assert "back on fd2" in probe.read_text() and "back on fd2" not in log.read_text()
    os.fstat(2)  # fd 2 is still open after the block
