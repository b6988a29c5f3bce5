"""Turn TOML syntax errors and pydantic validation errors into messages naming file, line and key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(Exception):
    """A config or persona file is unusable; str() is one readable line per problem."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = problems
        super().__init__("\n".join(problems))


_TABLE_RE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _clean_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def find_key_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best-effort 1-based line of the key at `loc` (table path + key) in TOML `text`."""
    wanted = [str(p) for p in loc if not isinstance(p, int)]
    if not wanted:
        return None
    table: list[str] = []
    best: int | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _TABLE_RE.match(line)
        if m:
            table = _clean_key(m.group(1))
            if table == wanted:
                best = best or lineno
            continue
        k = _KEY_RE.match(line)
        if not k:
            continue
        full = table + _clean_key(k.group(1))
        if full == wanted:
            return lineno
        if best is None and len(full) <= len(wanted) and wanted[: len(full)] == full:
            best = lineno  # an inline table or array that holds the key
    return best


def _describe(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    return str(error.get("msg", "invalid value"))


def load_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read a TOML file; syntax errors become a ConfigError that names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"{path}: cannot read file ({exc.strerror or exc})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"{path}: not UTF-8 text ({exc.reason})"]) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"{path}: TOML syntax error: {exc}"]) from exc


def validate_toml(model: type[ModelT], data: dict[str, Any], path: Path, text: str) -> ModelT:
    """Validate `data` against `model`; each problem names path:line and the dotted key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            key = ".".join(str(p) for p in loc) or "(top level)"
            line = find_key_line(text, loc)
            where = f"{path}:{line}" if line else f"{path}"
            value = error.get("input")
            shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
            problems.append(f"{where}: key '{key}': {_describe(error)}{shown}")
        raise ConfigError(path, problems) from None


def load_model(model: type[ModelT], path: Path) -> ModelT:
    """Read and validate a TOML file into `model`, raising ConfigError with file/line/key."""
    data, text = load_toml(path)
    return validate_toml(model, data, path, text)
