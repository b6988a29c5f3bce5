"""`kitsu status/say/panic/unpanic/skip/toggle/scene/stop`: one-shot clients of a running show's control API.

Each prints one line (or the status summary) and exits 0, or one `kitsu:` line on stderr and exits 1 — made
for Stream Deck buttons and shell scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from kitsu_tui.config.settings import Settings
from kitsu_tui.control.client import ControlClient, ControlError, client_for

Action = Callable[[ControlClient], Awaitable[str]]
"""Does one thing through the client and returns the line to print."""


async def run_remote(settings: Settings, action: Action, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `action` against the show these settings point at; exit code 0, or 1 with one `kitsu:` line."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        client = client_for(settings)
    except ControlError as exc:
        err.write(f"kitsu: {exc.message}\n")
        return 1
    try:
        line = await action(client)
    except ControlError as exc:
        err.write(f"kitsu: {exc.message}\n")
        return 1
    finally:
        await client.close()
    out.write(line + "\n")
    out.flush()
    return 0


def status_action(as_json: bool) -> Action:
    """GET /status, as JSON or as a short summary."""
    async def action(client: ControlClient) -> str:
        status = await client.status()
        return json.dumps(status, indent=2, ensure_ascii=False) if as_json else summary(status)
    return action


def say_action(text: str) -> Action:
    """POST /say."""
    async def action(client: ControlClient) -> str:
        reply = await client.post("/say", {"text": text})
        if not reply.get("accepted"):
            raise ControlError(200, f"not said: {reply.get('reason', 'refused')}")
        return "queued to say"
    return action


def post_action(path: str, body: dict[str, Any] | None, describe: Callable[[dict[str, Any]], str]) -> Action:
    """POST `path` and describe the reply in one line."""
    async def action(client: ControlClient) -> str:
        return describe(await client.post(path, body))
    return action


def panic_action() -> Action:
    """POST /panic."""
    return post_action("/panic", None, lambda r: "panic engaged: speech stopped, queues cleared, mic muted")


def unpanic_action(unmute: bool) -> Action:
    """POST /unpanic."""
    return post_action("/unpanic", {"unmute": unmute},
                       lambda r: f"panic cleared; mic {'muted' if r.get('muted') else 'on'}")


def skip_action() -> Action:
    """POST /skip."""
    return post_action("/skip", None, lambda r: "skipped the sentence" if r.get("skipped") else "nothing was playing")


def toggle_action(module: str, on: bool | None) -> Action:
    """POST /toggle/MODULE (on None: flip)."""
    def describe(reply: dict[str, Any]) -> str:
        reason = f" ({reply['reason']})" if reply.get("reason") else ""
        return f"{reply.get('module', module)}: {reply.get('state', '?')}{reason}"
    return post_action(f"/toggle/{module}", None if on is None else {"on": on}, describe)


def scene_action(scene: str) -> Action:
    """POST /obs/scene."""
    return post_action("/obs/scene", {"scene": scene}, lambda r: str(r.get("detail") or f"scene -> {scene}"))


def stop_action() -> Action:
    """POST /stop."""
    return post_action("/stop", None, lambda r: "the show is stopping")


def summary(status: dict[str, Any]) -> str:
    """A few lines: persona and state, flags, modules, scene, the last line spoken, latency."""
    name, shown = status.get("persona", "?"), status.get("display_name") or status.get("persona", "?")
    who = shown if shown == name else f"{shown} ({name})"
    lines = [f"{who}: {status.get('state', '?')} · console {status.get('console', '?')}"]
    flags = [label for key, label in (("panicked", "PANIC"), ("muted", "muted"), ("paused", "paused"),
                                      ("family_friendly", "family mode")) if status.get(key)]
    if flags:
        lines.append("flags: " + " · ".join(flags))
    modules = status.get("modules") or {}
    parts = []
    for module, info in modules.items():
        state = info.get("state", "?") if isinstance(info, dict) else "?"
        reason = info.get("reason", "") if isinstance(info, dict) else ""
        parts.append(f"{module} {state}" + (f" ({reason})" if state == "error" and reason else ""))
    if parts:
        lines.append("modules: " + " · ".join(parts))
    if status.get("scene"):
        lines.append(f"scene: {status['scene']}")
    lines.append(f"last line: {json.dumps(status.get('last_spoken') or '', ensure_ascii=False)}")
    lines.append("latency: " + _latency(status.get("latency") or {}))
    return "\n".join(lines)


def _latency(latency: dict[str, Any]) -> str:
    """First-audio latency: the last turn's, then p50/p95 over recent turns."""
    last = (latency.get("last") or {}).get("first_audio")
    p50, p95 = latency.get("first_audio_p50_ms"), latency.get("first_audio_p95_ms")
    if last is None and p50 is None:
        return "no turns yet"
    text = f"first audio {_ms(last)}"
    if p50 is not None:
        text += f" · p50 {_ms(p50)} · p95 {_ms(p95)} ({latency.get('turns_measured', 0)} turns)"
    return text


def _ms(value: object) -> str:
    return f"{float(value):.0f} ms" if isinstance(value, int | float) else "-"
