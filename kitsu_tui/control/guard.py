"""The control API's gate: token check, per-client rate limit, CORS and one-line JSON errors, before any handler."""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from kitsu_tui.config.settings import ApiSettings

log = logging.getLogger(__name__)

MAX_CLIENTS_TRACKED = 256
"""Rate-limit buckets kept; past this the full (idle) ones are forgotten."""
PREFLIGHT_MAX_AGE_S = 600

CorsHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]
"""An on_response_prepare hook: adds the CORS headers to every response, errors and WebSockets included."""


class ApiError(Exception):
    """A request the API refuses: its HTTP status and a one-line reason (sent as {"error": reason})."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error body {"error": message} with `status`."""
    return web.json_response({"error": message}, status=status, headers=headers)


class TokenBucket:
    """`burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    @property
    def full(self) -> bool:
        """No recent requests: forgetting this bucket changes nothing."""
        return self.tokens + (self.clock() - self.updated) * self.rate >= self.burst


class RateLimiter:
    """One token bucket per client address."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def wait_s(self, client: str) -> float:
        """0.0 when `client` may make a request now, else how long it must wait."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_CLIENTS_TRACKED:
                self._buckets = {key: b for key, b in self._buckets.items() if not b.full}
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst)
        return bucket.take()


def presented_token(request: web.Request) -> str:
    """The token a request carries: `Authorization: Bearer TOKEN`, else `?token=TOKEN` ("" when none)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get("token", "")


def token_matches(presented: str, token: str) -> bool:
    """Constant-time comparison of the presented token with the server's."""
    return bool(presented) and hmac.compare_digest(presented.encode(), token.encode())


def cors_headers(request: web.Request, allowed: frozenset[str]) -> dict[str, str]:
    """Access-Control-Allow-Origin for an allowed Origin header; {} for any other origin or none."""
    origin = request.headers.get("Origin", "")
    if not origin or origin not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def make_guard(settings: ApiSettings, token: str) -> tuple[Middleware, CorsHook]:
    """The middleware every request passes (preflight, rate limit, token, errors) and the CORS response hook."""
    allowed = frozenset(settings.cors_origins)
    limiter = RateLimiter(settings.rate_per_s, settings.burst)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            wait = limiter.wait_s(request.remote or "?")
            if wait > 0:
                raise ApiError(429, "too many requests: slow down",
                               {"Retry-After": str(max(1, math.ceil(wait)))})
            if request.method == "OPTIONS":
                return _preflight(request, allowed)
            if not token_matches(presented_token(request), token):
                raise ApiError(401, "missing or wrong API token (Authorization: Bearer TOKEN or ?token=TOKEN)",
                               {"WWW-Authenticate": "Bearer"})
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.message, exc.headers)
        except web.HTTPException as exc:  # unknown route, wrong method, body too large
            response = error_response(exc.status, _http_reason(exc, request))
        except Exception as exc:
            log.exception("control API: %s %s failed", request.method, request.path)
            response = error_response(500, f"internal error: {type(exc).__name__}")
        log.debug("control API: %s %s -> %s", request.method, request.path, response.status)  # never the query
        return response

    async def add_cors(request: web.Request, response: web.StreamResponse) -> None:
        for key, value in cors_headers(request, allowed).items():
            response.headers[key] = value

    return guard, add_cors


def _preflight(request: web.Request, allowed: frozenset[str]) -> web.Response:
    """A CORS preflight: no body; the allow headers only for an allowed origin."""
    headers = {}
    if cors_headers(request, allowed):
        headers = {"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                   "Access-Control-Allow-Headers": "Authorization, Content-Type",
                   "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S)}
    return web.Response(status=204, headers=headers)


def _http_reason(exc: web.HTTPException, request: web.Request) -> str:
    """One line for aiohttp's own refusals."""
    if exc.status == 404:
        return f"no such endpoint: {request.method} {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        return "request body too large"
    return exc.reason or f"HTTP {exc.status}"
