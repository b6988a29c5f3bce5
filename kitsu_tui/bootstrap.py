"""One engine factory shared by `kitsu run`, the TUI, `kitsu soak`, `kitsu bench` and the tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kitsu_tui.audio.base import AudioInput, AudioOutput
from kitsu_tui.backends.base import Backends, TtsBackend
from kitsu_tui.config.persona import Persona, load_persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.engine.engine import Engine

if TYPE_CHECKING:
    from kitsu_tui.memory import MemoryStore
    from kitsu_tui.safety import Moderator

log = logging.getLogger(__name__)


@dataclass
class EngineParts:
    """What build_engine produced, plus the one-line reasons for parts that fell back."""

    engine: Engine
    warnings: list[str] = field(default_factory=list)


def open_speakers(settings: Settings, sample_rate: int) -> tuple[AudioOutput, str | None]:
    """The configured output device, or a real-time null sink with the reason why."""
    from kitsu_tui.audio.outputs import open_output

    return open_output(settings.audio.output_device, sample_rate, settings.audio.play_audio,
                       settings.audio.output_latency)


def open_microphone(settings: Settings) -> tuple[AudioInput | None, str | None]:
    """The configured microphone, or None with a readable reason."""
    from kitsu_tui.audio.base import AudioDeviceError
    from kitsu_tui.audio.inputs import MicInput

    try:
        mic = MicInput(settings.audio.input_device, settings.audio.frame_ms)
        mic.start()
        return mic, None
    except AudioDeviceError as exc:
        return None, f"microphone unavailable: {exc}"
    except Exception as exc:
        return None, f"microphone unavailable: {type(exc).__name__}: {exc}"


def build_moderator(settings: Settings) -> Moderator | None:
    """The moderation pipeline from data/moderation (None when disabled)."""
    from kitsu_tui.safety import Moderator

    if not settings.moderation.enabled:
        return None
    return Moderator.from_settings(settings.moderation, settings.paths.data_dir)


def build_memory(settings: Settings) -> MemoryStore | None:
    """The persistent memory store (None when disabled); the memory module opens it."""
    from kitsu_tui.memory import MemoryStore

    section = settings.memory
    if not section.enabled:
        return None
    return MemoryStore(section.resolved_path(settings.paths.data_dir), summary_every=section.summary_every,
                       restore_window_s=section.restore_window_s)


async def attach_modules(engine: Engine, settings: Settings, integrations: bool = True,
                         show_log: bool = False) -> None:
    """Register memory, telemetry and the stream integrations as toggleable modules and start the enabled ones.

    Returns at once: integrations connect in the background and report their state as events.
    `show_log` (kitsu run) adds the show log last, so it records the others' states until they stop.
    """
    from kitsu_tui.memory import MemoryStore
    from kitsu_tui.memory.module import MemoryModule

    if isinstance(engine.memory, MemoryStore):
        memory = MemoryModule(engine.memory)
        engine.memory = None  # the module hands the store back once it is open
        engine.register_module(memory)
        await engine.toggle_module(memory.name, True)
    if settings.telemetry.enabled:
        from kitsu_tui.telemetry.system import SystemMonitor

        monitor = SystemMonitor(interval_s=settings.telemetry.interval_s)
        engine.register_module(monitor)
        await engine.toggle_module(monitor.name, True)
    if integrations:
        from kitsu_tui.integrations.factory import attach_integrations

        await attach_integrations(engine, settings)
    if show_log:
        from kitsu_tui.telemetry.showlog import build_show_log

        recorder = build_show_log(settings)
        engine.register_module(recorder)
        await engine.toggle_module(recorder.name, True)


def build_engine(
    settings: Settings,
    inputs: list[AudioInput] | None = None,
    persona: Persona | None = None,
    backends: Backends | None = None,
    output: AudioOutput | None = None,
    moderation: bool = True,
    memory: bool = True,
) -> EngineParts:
    """Wire persona, real backends, speakers (or a null sink), moderation and memory into an Engine."""
    from kitsu_tui.audio.lipsync import LipsyncAnalyzer

    warnings: list[str] = []
    persona = persona or load_persona(settings.paths.personas_dir, settings.persona)
    tts_factory = None
    if backends is None:
        from kitsu_tui.backends.factory import (
            build_backends,
            build_tts,
            language_warnings,
            voice_language_warning,
        )

        backends = build_backends(settings, persona)
        warnings += language_warnings(settings, persona)
        warned = set(warnings)
        tts_settings = settings.tts

        def tts_factory(p: Persona) -> TtsBackend:
            warning = voice_language_warning(tts_settings, p)
            if warning and warning not in warned:  # once per persona and run
                warned.add(warning)
                log.warning("%s", warning)
            return build_tts(tts_settings, p)
    if output is None:
        rate = int(backends.tts.sample_rate or 22050)
        output, reason = open_speakers(settings, rate)
        if reason:
            if settings.audio.play_audio and settings.audio.record_dir is None:
                # a WAV sink instead; a new Settings object, the caller's is not changed
                settings = settings.with_values({"audio.record_dir": settings.paths.data_dir / "recordings"})
                reason += f"; replies are written to {settings.audio.record_dir}/"
            warnings.append(reason)
    analyzer = LipsyncAnalyzer()
    engine = Engine(
        settings, persona, backends, output, inputs=inputs,
        moderator=build_moderator(settings) if moderation else None,
        memory=build_memory(settings) if memory else None,
        analyzer=analyzer.analyze,
    )
    engine.tts_factory = tts_factory
    return EngineParts(engine, warnings)
