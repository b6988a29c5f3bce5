"""kitsu: memory: conversation turns, summaries and recall in SQLite."""

from kitsu_tui.memory.store import MemoryStore

__all__ = ["MemoryStore"]
