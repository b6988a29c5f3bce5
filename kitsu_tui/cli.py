"""The `kitsu` command line: run (TUI or headless), devices, soak, bench; Textual is imported only by run."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from kitsu_tui.config.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="kitsu: operator console for AI VTubers.")


def _load_settings(config: Path | None, persona: str | None, record: Path | None = None,
                   no_audio: bool = False) -> object:
    from kitsu_tui.config.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"kitsu: {problem}", err=True)
        raise typer.Exit(2) from None
    if persona:
        settings.persona = persona
    if record is not None:
        settings.audio.record_dir = record
    if no_audio:
        settings.audio.play_audio = False
    return settings


def _setup_logging(settings: object, to_stderr: bool) -> None:
    from kitsu_tui.telemetry.logs import setup_logging

    setup_logging(settings.paths.log_dir, stderr_level=logging.WARNING if to_stderr else None)  # type: ignore[attr-defined]


@app.command()
def run(
    headless: Annotated[bool, typer.Option("--headless", help="Run the engine without the TUI.")] = False,
    input_: Annotated[list[Path] | None, typer.Option("--input", "-i", help="WAV file fed as the microphone (repeatable).")] = None,
    chat: Annotated[list[str] | None, typer.Option("--chat", "-c", help="A text turn (repeatable).")] = None,
    record: Annotated[Path | None, typer.Option("--record", help="Write each reply as a WAV into DIR.")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="Feed --input files as fast as possible, not in real time.")] = False,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Do not play audio (real-time null sink).")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
    persona: Annotated[str | None, typer.Option("--persona", help="Persona name (personas/NAME.toml).")] = None,
) -> None:
    """Run the live show: the Textual console, or --headless with JSON lines on stdout."""
    settings = _load_settings(config, persona, record, no_audio)
    if headless or input_ or chat:
        from kitsu_tui.headless import run_headless

        _setup_logging(settings, to_stderr=False)  # stderr carries only kitsu's own one-line messages
        try:
            code = asyncio.run(run_headless(settings, list(input_ or []), list(chat or []), realtime=not fast))  # type: ignore[arg-type]
        except ConfigError as exc:
            for problem in exc.problems:
                typer.echo(f"kitsu: {problem}", err=True)
            code = 2
        except KeyboardInterrupt:
            code = 130
        raise typer.Exit(code)
    from kitsu_tui.tui.app import run_tui

    _setup_logging(settings, to_stderr=False)
    raise typer.Exit(run_tui(settings))  # type: ignore[arg-type]


@app.command()
def devices(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List audio input and output devices."""
    from kitsu_tui.commands.devices import devices_command

    raise typer.Exit(devices_command(as_json))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
