"""What the control API may find on the engine's modules and memory, as small Protocols checked with isinstance.

The control package sits beside integrations and memory in the layers contract, so it never imports them:
the OBS module, the VTube Studio module and the memory store match these Protocols structurally.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class SceneAware(Protocol):
    """A module that knows the live scene (the OBS module; None while it is disconnected)."""

    current_scene: str | None


@runtime_checkable
class SceneSwitching(Protocol):
    """A module that can change the live scene (the OBS module's switch_scene)."""

    async def switch_scene(self, scene: str) -> str:
        """Make `scene` live; returns a one-line result, raises with the reason when it cannot."""


@runtime_checkable
class ExpressionTriggering(Protocol):
    """An avatar module that can show an expression or press a hotkey now (the VTube Studio module)."""

    async def trigger_expression(self, expression: str | None = None, hotkey: str | None = None) -> str:
        """Activate `expression` (an .exp3.json file) and/or trigger `hotkey`; returns a one-line result."""


@runtime_checkable
class SummaryAware(Protocol):
    """A memory that can tell its newest summary (the SQLite memory store)."""

    async def current_summary(self) -> str:
        """The newest summary of the conversation ("" when none was written yet)."""


@runtime_checkable
class QueueAware(Protocol):
    """An engine that can tell whether a turn is running or waiting (the Engine's `busy`)."""

    @property
    def busy(self) -> bool:
        """A turn is running, being stored, or waiting."""
