"""The `kitsu` command line: run (TUI or headless), devices, soak, bench; Textual is imported only by run."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kitsu_tui.config.errors import ConfigError

if TYPE_CHECKING:
    from kitsu_tui.commands.remote import Action
    from kitsu_tui.config.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="kitsu: operator console for AI VTubers.")


def _config_failed(exc: ConfigError) -> int:
    """Print one `kitsu:` line per problem of a config error on stderr; the exit code for it (2)."""
    for problem in exc.problems:
        typer.echo(f"kitsu: {problem}", err=True)
    return 2


def _load_settings(config: Path | None, persona: str | None, record: Path | None = None,
                   no_audio: bool = False) -> Settings:
    """The config file plus KITSU_* overrides, then the command line's flags on top (a new object, none mutated)."""
    from kitsu_tui.config.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise typer.Exit(_config_failed(exc)) from None
    changes: dict[str, Any] = {}
    if persona:
        changes["persona"] = persona
    if record is not None:
        changes["audio.record_dir"] = record
    if no_audio:
        changes["audio.play_audio"] = False
    return settings.with_values(changes) if changes else settings


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine: its exit code, 2 after a config error (one `kitsu:` line each), 130 on Ctrl-C."""
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        return _config_failed(exc)
    except KeyboardInterrupt:
        return 130


def _setup_logging(settings: Settings, to_stderr: bool) -> None:
    from kitsu_tui.telemetry.logs import setup_logging

    setup_logging(settings.paths.log_dir, stderr_level=logging.WARNING if to_stderr else None)


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
        raise typer.Exit(_run(run_headless(settings, list(input_ or []), list(chat or []), realtime=not fast)))
    from kitsu_tui.tui.show import run_tui

    _setup_logging(settings, to_stderr=False)
    raise typer.Exit(run_tui(settings))


@app.command()
def attach(
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
) -> None:
    """Open the console on the show that is already running (after a dropped SSH connection, or a second seat)."""
    settings = _load_settings(config, None)
    from kitsu_tui.tui.show import run_attach

    _setup_logging(settings, to_stderr=False)
    raise typer.Exit(run_attach(settings))


@app.command()
def devices(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List audio input and output devices."""
    from kitsu_tui.commands.devices import devices_command

    raise typer.Exit(devices_command(as_json))


@app.command()
def soak(
    max_turns: Annotated[int | None, typer.Option("--max-turns", min=1, help="Stop after N turns.")] = None,
    duration_minutes: Annotated[float | None, typer.Option("--duration-minutes", min=0.01, help="Stop after M minutes.")] = None,
    chat_file: Annotated[Path | None, typer.Option("--chat", help='Chat JSONL: {"user", "text", "delay"} per line.')] = None,
    utterances: Annotated[Path | None, typer.Option("--utterances", help="Folder of WAV files fed as the mic in real time.")] = None,
    replay: Annotated[Path | None, typer.Option("--replay", help="Replay a recorded session folder.")] = None,
    record_session: Annotated[Path | None, typer.Option("--record-session", help="Record what is fed into DIR for --replay.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the summary JSON here.")] = Path("summary.json"),
    max_error_rate: Annotated[float, typer.Option("--max-error-rate", min=0.0, max=1.0, help="Fail above this error rate.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic chat generator.")] = 7,
    turn_timeout: Annotated[float, typer.Option("--turn-timeout", min=1.0, help="Seconds before a stuck turn counts as an error.")] = 120.0,
    play: Annotated[bool, typer.Option("--play", help="Play replies on the speakers (default: real-time null sink).")] = False,
    faults: Annotated[str | None, typer.Option("--faults", help="Inject faults: 'default', or KIND[@START][+DURATION],... "
                                               "(llm-500, llm-hang, llm-refuse, llm-cut, tts, output, db-lock, disk-full).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
    persona: Annotated[str | None, typer.Option("--persona", help="Persona name (personas/NAME.toml).")] = None,
) -> None:
    """Run the real pipeline headless for a while and write per-turn records and aggregates."""
    from kitsu_tui.soak.options import SoakOptions
    from kitsu_tui.soak.runner import run_soak

    settings = _load_settings(config, persona, no_audio=not play)
    _setup_logging(settings, to_stderr=True)
    options = SoakOptions(max_turns=max_turns, duration_minutes=duration_minutes, chat_file=chat_file,
                          utterances=utterances, replay=replay, record_session=record_session, output=output,
                          max_error_rate=max_error_rate, seed=seed, turn_timeout_s=turn_timeout,
                          faults=faults)
    raise typer.Exit(_run(run_soak(settings, options)))


@app.command()
def bench(
    voice_turns: Annotated[int, typer.Option("--voice", min=0, help="Spoken test utterances.")] = 10,
    chat_turns: Annotated[int, typer.Option("--chat", min=0, help="Chat turns.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    quality: Annotated[bool, typer.Option("--quality", help="Score replies to the shipped chat lines instead.")] = False,
    lines: Annotated[int, typer.Option("--lines", min=0, help="With --quality: only the first N lines (0 = all).")] = 0,
    voices: Annotated[str, typer.Option("--voices", help="piper, or espeak: also the held-out espeak-ng voices, with cut-offs and false waits.")] = "piper",
    endpointing: Annotated[str, typer.Option("--endpointing", help="Endpointing rules the held-out voices are run with, side by side (comma-separated): transcript, sentence, smart-turn.")] = "transcript,sentence",
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: embedded defaults).")] = None,
) -> None:
    """Measure voice->first audio, chat->first audio, per-stage latency, load time and peak RSS (or --quality)."""
    from kitsu_tui.soak.bench import run_bench
    from kitsu_tui.soak.quality import run_quality

    settings = _load_settings(config, None, no_audio=True)
    _setup_logging(settings, to_stderr=True)
    if quality:
        raise typer.Exit(_run(run_quality(settings, limit=lines, as_json=as_json)))
    modes = [mode.strip() for mode in endpointing.split(",") if mode.strip()]
    raise typer.Exit(_run(run_bench(settings, voice_turns, chat_turns, as_json, voices=voices, endpointing=modes)))


@app.command()
def report(
    show: Annotated[Path | None, typer.Argument(help="A show log (logs/shows/show-*.jsonl).")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Report the most recent show under the log root.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    csv_dir: Annotated[Path | None, typer.Option("--csv", help="Also write turns.csv and telemetry.csv into DIR.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (for paths.log_dir).")] = None,
) -> None:
    """The post-show report: turns by source, first-audio p50/p95, blocks by rule, incidents, top chatters."""
    from kitsu_tui.commands.report import report_command

    settings = _load_settings(config, None)
    raise typer.Exit(report_command(show, latest, settings.paths.log_dir, as_json, csv_dir))


@app.command()
def redteam(
    corpus: Annotated[Path, typer.Argument(help="Red-team corpus JSONL (data/redteam/corpus.jsonl).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the results (and every case) as JSON.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N cases of each category.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only this category (repeatable).")] = None,
    show_failures: Annotated[bool, typer.Option("--show-failures", help="Print each forbidden text that was spoken.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
    persona: Annotated[str | None, typer.Option("--persona", help="Persona name (personas/NAME.toml).")] = None,
) -> None:
    """Run a red-team corpus through the real pipeline; exit 1 when anything forbidden was spoken."""
    from kitsu_tui.soak.redteam import run_redteam

    settings = _load_settings(config, persona, no_audio=True)
    _setup_logging(settings, to_stderr=True)
    raise typer.Exit(_run(run_redteam(settings, corpus, list(category or []), limit, as_json,
                                      show_failures)))


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    no_load: Annotated[bool, typer.Option("--no-load", help="Check that model files are present without loading them.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
) -> None:
    """Preflight before a show: one go / no-go row per check with its fix; exit 1 on any no-go."""
    from kitsu_tui.commands.doctor import doctor_command

    raise typer.Exit(doctor_command(config, as_json, load=not no_load))


@app.command()
def web(
    host: Annotated[str, typer.Option("--host", help="Address to bind; 0.0.0.0 opens it to the network (a warning says so).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8766,
    config: Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")] = None,
    kitsu_command: Annotated[str | None, typer.Option("--kitsu-command", hidden=True, envvar="KITSU_WEB_KITSU_COMMAND",
                                                      help="Shell command run as `kitsu` for each browser tab (tests).")] = None,
) -> None:
    """Serve the same console in a browser (textual-serve): each tab is `kitsu attach`, opened with the API's token."""
    settings = _load_settings(config, None)
    from kitsu_tui.control.token import load_or_create_token
    from kitsu_tui.web import serve_web, served_command

    try:
        token = load_or_create_token(settings.api, settings.paths.data_dir)
    except OSError as exc:
        typer.echo(f"kitsu: cannot create the control API token ({exc}): set $KITSU_API_TOKEN or [api] token_file", err=True)
        raise typer.Exit(1) from None
    _setup_logging(settings, to_stderr=True)
    raise typer.Exit(_run(serve_web(served_command(config, kitsu_command), host, port, token, echo=typer.echo,
                                    warn=lambda line: typer.echo(line, err=True))))


ConfigOption = Annotated[Path | None, typer.Option("--config", help="Config TOML (default: $KITSU_CONFIG_FILE or ./kitsu.toml).")]


def _remote(config: Path | None, action: Action) -> None:
    """Run one control API client command against the running show; exit 0, or 1 with one `kitsu:` line."""
    from kitsu_tui.commands.remote import run_remote

    raise typer.Exit(_run(run_remote(_load_settings(config, None), action)))


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole status as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The running show: persona, state, console, modules, last line spoken, latency."""
    from kitsu_tui.commands.remote import status_action

    _remote(config, status_action(as_json))


@app.command()
def say(text: Annotated[str, typer.Argument(help="The line to speak verbatim.")], config: ConfigOption = None) -> None:
    """Make the running show speak TEXT verbatim (no LLM; output moderation still applies)."""
    from kitsu_tui.commands.remote import say_action

    _remote(config, say_action(text))


@app.command()
def panic(config: ConfigOption = None) -> None:
    """Panic the running show: stop speech, clear the queues, mute the mic, run the panic macros."""
    from kitsu_tui.commands.remote import panic_action

    _remote(config, panic_action())


@app.command()
def unpanic(
    unmute: Annotated[bool, typer.Option("--unmute", help="Also unmute the microphone.")] = False,
    config: ConfigOption = None,
) -> None:
    """Clear panic on the running show (the mic stays muted unless --unmute)."""
    from kitsu_tui.commands.remote import unpanic_action

    _remote(config, unpanic_action(unmute))


@app.command()
def skip(config: ConfigOption = None) -> None:
    """Skip the sentence the running show is speaking."""
    from kitsu_tui.commands.remote import skip_action

    _remote(config, skip_action())


@app.command()
def toggle(
    module: Annotated[str, typer.Argument(help="A module (obs, vts, vmc, twitch, memory...) or asr/llm/tts.")],
    on: Annotated[bool | None, typer.Option("--on/--off", help="Turn it on or off (default: flip).")] = None,
    config: ConfigOption = None,
) -> None:
    """Turn a module of the running show on or off."""
    from kitsu_tui.commands.remote import toggle_action

    _remote(config, toggle_action(module, on))


@app.command()
def scene(name: Annotated[str, typer.Argument(help="The OBS scene to make live.")], config: ConfigOption = None) -> None:
    """Switch the running show's OBS scene."""
    from kitsu_tui.commands.remote import scene_action

    _remote(config, scene_action(name))


@app.command()
def stop(config: ConfigOption = None) -> None:
    """End the running show cleanly."""
    from kitsu_tui.commands.remote import stop_action

    _remote(config, stop_action())


def main(args: list[str] | None = None) -> None:
    """Console-script entry point: the process ends here, so only here may a stuck thread be left behind.

    A stop that overruns its 5 s, or a thread left running at the end, ends the process with os._exit;
    callers inside another process (tests, CliRunner) call `app` and never get that.
    """
    from kitsu_tui.exits import enable_watchdog, finish

    enable_watchdog()
    code = 0
    try:
        app(args, prog_name="kitsu")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    sys.exit(finish(code))


if __name__ == "__main__":
    main()
