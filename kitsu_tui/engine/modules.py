"""The protocol of pluggable modules (integrations, memory, telemetry) the engine starts, stops and toggles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kitsu_tui.engine.engine import Engine


class Module(Protocol):
    """A toggleable part of the show that consumes engine events and may send commands back.

    start() must return quickly (connect in a background task, report progress with
    engine.set_module_state); stop() must cancel its tasks and close its connections.
    A module may also define `async def on_panic(self, engaged: bool) -> list[str]` (steps done).
    """

    name: str

    async def start(self, engine: Engine) -> None:
        """Begin consuming events (engine.bus.subscribe()) and connecting."""

    async def stop(self) -> None:
        """Stop everything this module runs."""
