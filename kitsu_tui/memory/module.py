"""Makes persistent memory a toggleable engine module: off = no recall and nothing written; a locked file shows
as the module in error (one warning) until every queued row is written."""

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
        self.store.on_health = self._health
        engine.set_module_state(self.name, ModuleState.ON, str(self.store.path))

    def _health(self, problem: str | None) -> None:
        """The store's writes started failing (one warning, module in error) or caught up (module on again)."""
        engine = self._engine
        if engine is None or engine.memory is not self.store:
            return
        if problem is not None:
            engine.set_module_state(self.name, ModuleState.ERROR, problem)
            engine.notice("warning", f"memory: {problem}")
        else:
            engine.set_module_state(self.name, ModuleState.ON, str(self.store.path))
            engine.notice("info", "memory: the database is writable again; queued turns are saved")

    async def stop(self) -> None:
        """Stop recalling and writing; the database file is closed cleanly."""
        if self._engine is not None and self._engine.memory is self.store:
            self._engine.memory = None
        self.store.on_health = None
        await self.store.close()
