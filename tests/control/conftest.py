"""Fixtures for control API tests: a real Engine on fake models with the shipped moderation, served on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kitsu_tui.audio.outputs import NullOutput
from kitsu_tui.backends.base import Backends
from kitsu_tui.backends.fakes import FakeAsr, FakeLlm, FakeTts, FakeVad
from kitsu_tui.config.persona import Persona
from kitsu_tui.config.settings import Settings
from kitsu_tui.control.server import ControlServer, start_control_api
from kitsu_tui.engine.engine import Engine
from kitsu_tui.engine.events import Event
from kitsu_tui.safety import Moderator

ROOT = Path(__file__).resolve().parents[2]

COMMAND_KINDS = ("OperatorAction", "TurnStarted", "TurnRejected", "ModerationDecided", "PersonaChanged",
                 "Interrupted")
"""Events any command reaching the engine would cause: a refused request must cause none of them."""


def api_settings(tmp_path: Path, **api: Any) -> Settings:
    """Settings with the repo's personas/prompts, a private data dir (the token file) and [api] on a free port."""
    changes: dict[str, Any] = {"paths.personas_dir": ROOT / "personas", "paths.prompts_dir": ROOT / "prompts",
                               "paths.data_dir": tmp_path / "data", "api.port": 0}
    changes.update({f"api.{key}": value for key, value in api.items()})
    return Settings().with_values(changes)


def build_engine(settings: Settings, backends: Backends | None = None) -> Engine:
    """The real Engine with Moderator(data/moderation); fake replies "Reply N." that play in milliseconds."""
    backends = backends or Backends(vad=FakeVad(), asr=FakeAsr(),
                                    llm=FakeLlm(reply_fn=lambda messages: f"Reply {len(messages)}.",
                                                token_delay_s=0.0),
                                    tts=FakeTts(ms_per_char=2.0))
    return Engine(settings, Persona(name="Kitsu", system_prompt="You are Kitsu, a fox VTuber."), backends,
                  NullOutput(16000), moderator=Moderator(ROOT / "data" / "moderation"),
                  analyzer=lambda block, rate: (0.0, (0.0, 0.0, 0.0, 0.0, 0.0)))


@dataclass
class Show:
    """A running engine with its control API, the events it emitted, and an HTTP session without a token."""

    engine: Engine
    server: ControlServer
    settings: Settings
    token: str
    http: aiohttp.ClientSession
    events: list[Event] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """POST with the token; (status, JSON body)."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        async with self.http.post(self.url + path, json=body, headers=headers, **kwargs) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        """GET with the token; (status, JSON body)."""
        async with self.http.get(self.url + path, headers=self.auth) as response:
            return response.status, await response.json()

    def command_events(self) -> list[str]:
        """Kinds of the events that only a command reaching the engine would cause."""
        return [e.kind for e in self.events if e.kind in COMMAND_KINDS]


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll until `predicate()`; fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def open_show(settings: Settings, engine: Engine | None = None) -> Show:
    """Start an engine and its control API; the caller closes it with close_show."""
    engine = engine or build_engine(settings)
    await engine.start()
    stops: list[str] = []
    server = await start_control_api(engine, settings, lambda: stops.append("stop"), lambda: "headless")
    assert server is not None
    token = (settings.paths.data_dir / "api.token").read_text().strip()
    show = Show(engine, server, settings, token, aiohttp.ClientSession(), stops=stops)
    engine.bus.add_listener(show.events.append)
    return show


async def close_show(show: Show) -> None:
    """Close the session, the API and the engine."""
    await show.http.close()
    await show.server.close()
    await asyncio.wait_for(show.engine.stop(), 10)


@pytest.fixture
async def show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Show]:
    """A running show with its control API on a free port; the token is in <tmp>/data/api.token."""
    monkeypatch.delenv("KITSU_API_TOKEN", raising=False)
    running = await open_show(api_settings(tmp_path))
    try:
        yield running
    finally:
        await close_show(running)
