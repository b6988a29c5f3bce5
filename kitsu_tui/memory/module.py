"""Makes persistent memory a toggleable engine module: off = no recall and nothing written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitsu_tui.engine.events import ModuleState

if TYPE_CHECKING:
    from kitsu_tui.engine.api import EngineApi
    from kitsu_tui.memory.store import MemoryStore


class MemoryModule:
    """Opens the store and hands it to the engine on start; takes it away (and closes it) on stop."""

    name = "memory"

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._engine: EngineApi | None = None

    async def start(self, engine: EngineApi) -> None:
        """Open the database (fast: a local SQLite file) and let the engine use it."""
        self._engine = engine
        try:
            await self.store.open()
        except Exception as exc:
            engine.memory = None
            engine.set_module_state(self.name, ModuleState.ERROR, f"memory unavailable: {exc}")
            return
        engine.memory = self.store
        engine.set_module_state(self.name, ModuleState.ON, str(self.store.path))

    async def stop(self) -> None:
        """Stop recalling and writing; the database file is closed cleanly."""
        if self._engine is not None and self._engine.memory is self.store:
            self._engine.memory = None
        await self.store.close()
