"""The control API as the show tests call it: one JSON request with the bearer token, and /status or None."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call_api(port: int, token: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call the control API (GET without a body, POST with one)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read().decode())
    return answer


def api_status(port: int, token: str) -> dict[str, Any] | None:
    """The show's status, or None while no API answers."""
    try:
        return call_api(port, token, "/status")
    except (urllib.error.URLError, OSError, ValueError):
        return None
