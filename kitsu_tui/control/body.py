"""Request bodies of the control API: one JSON object, its fields checked by type before the engine sees them."""

from __future__ import annotations

import json

from aiohttp import web

from kitsu_tui.control.guard import ApiError

MAX_TEXT_CHARS = 2000
"""Longest text field accepted (a chat or /say line)."""

Body = dict[str, object]


async def read_body(request: web.Request) -> Body:
    """The request's JSON object ({} for an empty body); 400 with a one-line reason for anything else."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def text_field(body: Body, key: str, required: bool = True, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """A string field, stripped; 400 when missing (if required), not a string, blank or too long."""
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f'"{key}" is required (a string)')
        return None
    if not isinstance(value, str):
        raise ApiError(400, f'"{key}" must be a string')
    value = value.strip()
    if not value:
        raise ApiError(400, f'"{key}" must not be empty')
    if len(value) > max_chars:
        raise ApiError(400, f'"{key}" is longer than {max_chars} characters')
    return value


def flag_field(body: Body, key: str) -> bool | None:
    """An optional true/false field (None when absent); 400 for any other type."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, f'"{key}" must be true or false')
    return value


def choice_field(body: Body, key: str, choices: tuple[str, ...], default: str) -> str:
    """An optional string field that must be one of `choices`."""
    value = body.get(key, default)
    if not isinstance(value, str) or value not in choices:
        raise ApiError(400, f'"{key}" must be one of {", ".join(choices)}')
    return value
