"""Read TOML files into pydantic models; syntax and validation errors name the file, line and key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kitsu_tui.config.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)

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


def _source(loc: tuple[str | int, ...], overrides: Mapping[tuple[str, ...], str], text: str) -> str | None:
    """The override (e.g. an environment variable) that set the value at `loc`, or made its table, if any."""
    keys = tuple(str(p) for p in loc)
    for where, name in overrides.items():
        if keys[: len(where)] == where:
            return name
    for where, name in overrides.items():
        if where[: len(keys)] == keys and find_key_line(text, loc) is None:
            return name  # a table that only the override created (e.g. an unknown section)
    return None


def validate_toml(model: type[ModelT], data: dict[str, Any], path: Path, text: str,
                  overrides: Mapping[tuple[str, ...], str] | None = None) -> ModelT:
    """Validate `data` against `model`; each problem names path:line (or the override that set it) and the key.

    `overrides` maps the key path of each value that did not come from the file to where it came from.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            key = ".".join(str(p) for p in loc) or "(top level)"
            source = _source(loc, overrides or {}, text)
            line = None if source else find_key_line(text, loc)
            where = source or (f"{path}:{line}" if line else f"{path}")
            value = error.get("input")
            shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
            problems.append(f"{where}: key '{key}': {_describe(error)}{shown}")
        raise ConfigError(path, problems) from None


def load_model(model: type[ModelT], path: Path) -> ModelT:
    """Read and validate a TOML file into `model`, raising ConfigError with file/line/key."""
    data, text = load_toml(path)
    return validate_toml(model, data, path, text)
