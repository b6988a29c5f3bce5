"""ConfigError: a config, persona or rules file that cannot be used, as one readable line per problem."""

from __future__ import annotations

from pathlib import Path


class ConfigError(Exception):
    """A config or persona file is unusable; str() is one readable line per problem."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = problems
        super().__init__("\n".join(problems))
