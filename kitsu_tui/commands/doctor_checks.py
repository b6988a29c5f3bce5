"""`kitsu doctor`'s checks on this machine: persona, audio devices, models, directories, disk, moderation, memory."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from kitsu_tui.config.errors import ConfigError
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings

Status = Literal["go", "no-go", "warn", "skipped"]

MIN_FREE_MB = 200
"""Below this much free disk under the log root the show cannot record: no-go."""
LOW_FREE_MB = 1024
"""Below this much free disk a long show may run out: a warning."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One row of the preflight: what was checked, go / no-go / warn / skipped, what was found, and the fix."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def skipped_off(name: str, section: str) -> CheckResult:
    """The row of a module that is switched off."""
    return CheckResult(name, "skipped", "skipped (off)", f"[{section}] enabled = true to use it")


def check_persona(settings: Settings) -> tuple[CheckResult, Persona | None]:
    """The configured persona file loads."""
    from kitsu_tui.config.persona import load_persona

    try:
        persona = load_persona(settings.paths.personas_dir, settings.persona)
    except ConfigError as exc:
        names = sorted(p.stem for p in Path(settings.paths.personas_dir).glob("*.toml"))
        return CheckResult("persona", "no-go", "; ".join(exc.problems) or str(exc),
                           f"set persona to one of: {', '.join(names) or '(none found)'}"), None
    return CheckResult("persona", "go", f"{settings.persona} ({persona.shown_name})"), persona


def _device_label(device: str | int | None) -> str:
    return "system default" if device is None else repr(device)


def check_microphone(settings: Settings) -> CheckResult:
    """The configured (or default) input device opens; without one, voice is off but chat works."""
    from kitsu_tui.audio.inputs import MicInput

    device = settings.audio.input_device
    mic = MicInput(device, settings.audio.frame_ms)
    try:
        mic.start()
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if device is None:
            return CheckResult("microphone", "warn", f"no default input device: {reason}",
                               "voice input is off (chat still works); set audio.input_device from `kitsu devices`")
        return CheckResult("microphone", "no-go", f"{_device_label(device)} does not open: {reason}",
                           "pick a name or index from `kitsu devices` for audio.input_device")
    finally:
        mic.close()
    return CheckResult("microphone", "go", f"{mic.name} opens ({_device_label(device)})")


def check_speakers(settings: Settings) -> CheckResult:
    """The configured (or default) output device opens, unless playback is off."""
    from kitsu_tui.audio.outputs import SoundDeviceOutput

    device = settings.audio.output_device
    if not settings.audio.play_audio:
        return CheckResult("speakers", "skipped", "skipped (off): audio.play_audio = false",
                           "audio.play_audio = true to play replies")
    speakers = SoundDeviceOutput(device, 22050, settings.audio.output_latency)
    try:
        speakers.start()
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        if device is None:
            return CheckResult("speakers", "warn", f"no default output device: {reason}",
                               "replies are written as WAV files instead; set audio.output_device from `kitsu devices`")
        return CheckResult("speakers", "no-go", f"{_device_label(device)} does not open: {reason}",
                           "pick a name or index from `kitsu devices` for audio.output_device")
    finally:
        speakers.close()
    return CheckResult("speakers", "go", f"{speakers.name} opens ({_device_label(device)})")


def model_files(settings: Settings) -> list[CheckResult]:
    """Without loading: each model's files are present and look right (GGUF header, Whisper and Piper files)."""
    from kitsu_tui.backends.base import BackendError
    from kitsu_tui.backends.models import gguf_path, piper_voice_paths, silero_vad_path, whisper_model_ref

    probes: list[tuple[str, Any]] = [
        ("vad", lambda: silero_vad_path(settings.vad.model_path)),
        ("asr", lambda: whisper_model_ref(settings.asr.model)),
        ("llm", (lambda: gguf_path(settings.llm.model_path)) if settings.llm.backend == "llama" else None),
        ("tts", (lambda: piper_voice_paths(settings.tts.voice)[0]) if settings.tts.backend == "piper" else None),
    ]
    rows = []
    for stage, probe in probes:
        if probe is None:
            rows.append(CheckResult(f"model {stage}", "warn", "not checked without loading (a server or another engine)",
                                    "run `kitsu doctor` without --no-load"))
            continue
        try:
            found = probe()
        except BackendError as exc:
            rows.append(CheckResult(f"model {stage}", "no-go", str(exc), "bash scripts/dev.sh install puts the embedded "
                                    "models back; or fix the path in the config"))
            continue
        rows.append(CheckResult(f"model {stage}", "go", f"files present, not loaded (--no-load): {found}"))
    return rows


def load_models(settings: Settings, persona: Persona | None) -> list[CheckResult]:
    """Each model really loads (the same backends `kitsu run` builds), with its load time."""
    from kitsu_tui.backends.factory import build_backends

    try:
        backends = build_backends(settings, persona)
    except Exception as exc:
        return [CheckResult("models", "no-go", f"{type(exc).__name__}: {exc}", "fix the [vad]/[asr]/[llm]/[tts] settings")]
    rows = []
    for stage in ("vad", "asr", "llm", "tts"):
        started = time.monotonic()
        try:
            getattr(backends, stage).load()
        except Exception as exc:
            rows.append(CheckResult(f"model {stage}", "no-go", f"does not load: {exc}",
                                    "bash scripts/dev.sh install puts the embedded models back; or fix the config"))
            continue
        rows.append(CheckResult(f"model {stage}", "go", f"loads in {time.monotonic() - started:.1f} s"))
    return rows


def check_writable(name: str, directory: Path, fix: str) -> CheckResult:
    """A directory exists (or can be made) and takes a new file."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".kitsu-doctor-"):
            pass
    except OSError as exc:
        return CheckResult(name, "no-go", f"{directory} is not writable: {exc.strerror or exc}", fix)
    return CheckResult(name, "go", f"{directory} is writable")


def check_disk(log_dir: Path) -> CheckResult:
    """Free disk where the show log and recordings go."""
    probe = log_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free / 2**20
    detail = f"{free_mb:,.0f} MB free at {probe}"
    if free_mb < MIN_FREE_MB:
        return CheckResult("free disk", "no-go", detail, f"free at least {MIN_FREE_MB} MB or point paths.log_dir elsewhere")
    if free_mb < LOW_FREE_MB:
        return CheckResult("free disk", "warn", detail, f"a long show with recordings may need over {LOW_FREE_MB} MB")
    return CheckResult("free disk", "go", detail)


def check_moderation(settings: Settings) -> CheckResult:
    """The moderation rule files load."""
    from kitsu_tui.safety import Moderator

    if not settings.moderation.enabled:
        return skipped_off("moderation", "moderation")
    try:
        moderator = Moderator.from_settings(settings.moderation, settings.paths.data_dir)
    except ConfigError as exc:
        return CheckResult("moderation", "no-go", "; ".join(exc.problems) or str(exc),
                           "fix the rule file named above (see data/moderation/README.md)")
    return CheckResult("moderation", "go", f"rules load from {moderator.rules_dir}")


def check_memory(settings: Settings) -> CheckResult:
    """The memory database opens (read-only check) or can be created."""
    if not settings.memory.enabled:
        return skipped_off("memory", "memory")
    path = settings.memory.resolved_path(settings.paths.data_dir)
    if not path.exists():
        row = check_writable("memory", path.parent, "make the folder writable or set memory.path")
        return row if row.status != "go" else CheckResult("memory", "go", f"{path} will be created")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        return CheckResult("memory", "no-go", f"{path} does not open: {exc}", "move the file away to start a new memory")
    if verdict != "ok":
        return CheckResult("memory", "no-go", f"{path} is damaged: {verdict}", "move the file away to start a new memory")
    return CheckResult("memory", "go", f"{path} opens")
