"""Streaming chat completions from any OpenAI-compatible server (Ollama, LM Studio, llama-server, OpenRouter)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.backends.llm_llama import one_line, to_openai_messages

RETRY_BASE_DELAY_S = 0.5
PROBE_TIMEOUT_S = 5.0
"""The longest a probe of a failing server waits for its answer (it runs on the LLM's thread; shutdown waits too)."""


class _Retryable(Exception):
    """A failure before any token was produced (connection refused, 5xx): worth another try."""


class OpenAiLlm:
    """POST {base_url}/chat/completions with stream=true and yield the `delta.content` of each SSE event."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:11434/v1",
        model: str = "llama3.2",
        api_key_env: str = "KITSU_LLM_API_KEY",
        timeout_s: float = 20.0,
        retries: int = 2,
        retry_base_delay_s: float = RETRY_BASE_DELAY_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_base_delay_s = retry_base_delay_s
        self._client: httpx.Client | None = None

    def _headers(self) -> dict[str, str]:
        """Request headers; the API key is read from the environment at call time and never logged."""
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _unreachable(self, detail: str) -> BackendError:
        """The one-line error for a server that cannot be reached."""
        return BackendError(
            f"cannot reach LLM server at {self.base_url}: {detail} (is Ollama running? set llm.base_url)"
        )

    def _failure(self, detail: str) -> BackendError:
        """The one-line error after the retries: a server that answered with an error, or one not reached."""
        if detail.startswith("HTTP "):
            return BackendError(f"LLM server at {self.base_url} failed: {detail} (retried {self.retries} times)")
        return self._unreachable(detail)

    def load(self) -> None:
        """Open the HTTP client and check that the server answers (GET /models; any HTTP answer counts)."""
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout_s), follow_redirects=True)
        try:
            response = self._client.get(f"{self.base_url}/models", headers=self._headers())
        except httpx.HTTPError as exc:
            raise self._unreachable(one_line(exc)) from exc
        if response.status_code in (401, 403):
            raise BackendError(
                f"LLM server at {self.base_url} refused the API key (HTTP {response.status_code}); "
                f"set the key in ${self.api_key_env}"
            )

    def warm(self, messages: list[ChatMessage]) -> None:
        """Nothing to pre-fill on a remote server (it manages its own prompt cache)."""

    def probe(self) -> bool:
        """A 1-token streamed completion within PROBE_TIMEOUT_S, not retried: True once the server answers again."""
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": "hi"}],
                                "stream": True, "max_tokens": 1, "temperature": 0.0}
        try:
            for _ in self._stream_once(body, lambda: False, min(self.timeout_s, PROBE_TIMEOUT_S)):
                break  # the first piece is the answer; closing the stream ends the request
        except _Retryable as exc:
            raise self._failure(str(exc)) from None
        return True

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams, should_stop: Callable[[], bool]
    ) -> Iterator[str]:
        """Yield reply pieces; connection errors and 5xx are retried with backoff until the first piece arrives."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "stream": True,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)[:4]  # OpenAI's limit; the first ones are the role markers
        if params.presence_penalty:
            body["presence_penalty"] = params.presence_penalty
        if params.frequency_penalty:
            body["frequency_penalty"] = params.frequency_penalty
        attempt = 0
        while True:
            yielded = False
            try:
                for piece in self._stream_once(body, should_stop):
                    yielded = True
                    yield piece
                return
            except _Retryable as exc:
                if yielded:
                    raise BackendError(f"LLM stream from {self.base_url} broke off: {exc}") from None
                if attempt >= self.retries or should_stop():
                    raise self._failure(str(exc)) from None
                time.sleep(self.retry_base_delay_s * (2**attempt))
                attempt += 1

    def _stream_once(self, body: dict[str, Any], should_stop: Callable[[], bool],
                     timeout_s: float | None = None) -> Iterator[str]:
        """One streaming request (`timeout_s`: this one's timeout); raises _Retryable before the first token, BackendError otherwise."""
        client = self._client or httpx.Client(timeout=httpx.Timeout(self.timeout_s), follow_redirects=True)
        self._client = client
        url = f"{self.base_url}/chat/completions"
        timeout = httpx.Timeout(timeout_s if timeout_s is not None else self.timeout_s)
        try:
            with client.stream("POST", url, json=body, headers=self._headers(), timeout=timeout) as response:
                if response.status_code >= 500:
                    response.read()
                    raise _Retryable(f"HTTP {response.status_code} {_error_text(response)}")
                if response.status_code >= 400:
                    response.read()
                    raise BackendError(
                        f"LLM server at {self.base_url} rejected the request: HTTP {response.status_code} "
                        f"{_error_text(response)} (check llm.model and ${self.api_key_env})"
                    )
                for line in response.iter_lines():
                    if should_stop():
                        return
                    piece = _parse_sse_line(line, self.base_url)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            raise _Retryable(one_line(exc)) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"LLM stream from {self.base_url} failed: {one_line(exc)}") from exc


def _parse_sse_line(line: str, base_url: str) -> str | None:
    """Text carried by one SSE line: '' for comments/keep-alives/empty deltas, None at `data: [DONE]`."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return None
    try:
        event = json.loads(payload)
    except json.JSONDecodeError:
        return ""
    if isinstance(event, dict) and event.get("error"):
        error = event["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise BackendError(f"LLM server at {base_url} reported an error: {str(message)[:200]}")
    choices = event.get("choices") if isinstance(event, dict) else None
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _error_text(response: httpx.Response) -> str:
    """Short readable reason from an error response body (OpenAI-style JSON or plain text)."""
    try:
        data = response.json()
        error = data.get("error", data) if isinstance(data, dict) else data
        text = error.get("message", str(error)) if isinstance(error, dict) else str(error)
    except (ValueError, json.JSONDecodeError):
        text = response.text
    return " ".join(str(text).split())[:160]
