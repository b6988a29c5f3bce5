"""Engine events to JSON-safe dicts and back: enums as their values, tuples as lists, a "kind" tag."""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

from kitsu_tui.engine import events
from kitsu_tui.engine.events import Event

REPLAY_DONE = "ReplayDone"
"""The "kind" of the marker the event stream sends after the replayed events, before live ones."""


class _Bad(ValueError):
    """A field's value does not fit its type."""


def _plain(value: object) -> object:
    """A JSON-safe copy of a field value (enums -> values, tuples -> lists, dataclasses -> dicts)."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def encode_event(event: Event) -> dict[str, object]:
    """The event as a JSON-safe dict: "kind" (the class name) first, then every field."""
    data: dict[str, object] = {"kind": event.kind}
    for f in dataclasses.fields(event):
        if f.init:
            data[f.name] = _plain(getattr(event, f.name))
    return data


@functools.cache
def event_classes() -> dict[str, type[Event]]:
    """Every concrete event class in kitsu_tui.engine.events by its kind."""
    found: dict[str, type[Event]] = {}
    for value in vars(events).values():
        if isinstance(value, type) and issubclass(value, Event) and value is not Event:
            found[value.__name__] = value
    return found


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of a dataclass (the events module uses postponed annotations)."""
    return typing.get_type_hints(cls)


def _coerce(value: object, hint: Any) -> object:
    """`value` as the type `hint` describes, or _Bad."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option)
            except _Bad:
                continue
        raise _Bad(f"{value!r} fits none of {hint}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Bad(f"{value!r} is not a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(item, args[0]) for item in value)
        if len(value) != len(args):
            raise _Bad(f"{value!r} does not have {len(args)} items")
        return tuple(_coerce(item, arg) for item, arg in zip(value, args, strict=True))
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise _Bad(f"{value!r} is not an object")
        return dict(value)
    if isinstance(hint, type):
        return _coerce_simple(value, hint)
    raise _Bad(f"unsupported type {hint}")


def _coerce_simple(value: object, hint: type) -> object:
    """`value` as a plain class: an enum, a nested dataclass, bool, int, float or str."""
    if issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise _Bad(f"{value!r} is not an object")
        return hint(**_fields_of(hint, value))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise _Bad(f"{value!r} is not {hint.__name__}")


def _fields_of(cls: type, data: Mapping[str, object]) -> dict[str, Any]:
    """Constructor arguments for dataclass `cls` from `data`; absent fields keep their defaults."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Bad(f"missing field {f.name!r}")
            continue
        kwargs[f.name] = _coerce(data[f.name], hints[f.name])
    return kwargs


def decode_event(data: Mapping[str, object]) -> Event | None:
    """The event `encode_event` made `data` from; None for an unknown kind (e.g. the replay marker) or bad fields."""
    kind = data.get("kind")
    cls = event_classes().get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:
        return cls(**_fields_of(cls, data))
    except (_Bad, TypeError, ValueError):
        return None
