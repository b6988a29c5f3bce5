"""OpenAiLlm against a real SSE server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.backends.llm_openai import OpenAiLlm

PIECES = ["Hi", " there", ",", " chat", "!"]


class ScriptedServer(ThreadingHTTPServer):
    """An OpenAI-style server whose next responses are scripted: 'ok', '500', '401' or 'error-event'."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.release = threading.Event()
        self.release.set()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-stream (the should_stop test) is expected, not an error."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    """Serves /v1/models and streaming /v1/chat/completions."""

    server: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return

    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": "fake-model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.requests.append(json.loads(self.rfile.read(length)))
        self.server.auth_headers.append(self.headers.get("Authorization"))
        mode = self.server.script.pop(0) if self.server.script else "ok"
        if mode in ("500", "401"):
            body = json.dumps({"error": {"message": f"scripted {mode}"}}).encode()
            self.send_response(int(mode))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode == "error-event":
            self.wfile.write(b'data: {"error": {"message": "model not loaded"}}\n\n')
            return
        self.wfile.write(b": keep-alive\n\n")
        self.wfile.write(b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n')
        for i, piece in enumerate(PIECES):
            if i == 2:
                self.server.release.wait(5)
            event = {"choices": [{"delta": {"content": piece}, "index": 0}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


MESSAGES = [ChatMessage("system", "You are Kitsu."), ChatMessage("user", "hello")]


def test_streams_pieces_and_sends_key(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITSU_TEST_KEY", "sk-secret-123")
    llm = OpenAiLlm(base_url=server.base_url, model="fake-model", api_key_env="KITSU_TEST_KEY")
    llm.load()
    pieces = list(llm.stream(MESSAGES, GenerationParams(max_tokens=20, stop=("###",)), lambda: False))
    assert pieces == PIECES
    request = server.requests[-1]
    assert request["stream"] is True and request["model"] == "fake-model" and request["stop"] == ["###"]
    assert request["messages"] == [{"role": "system", "content": "You are Kitsu."}, {"role": "user", "content": "hello"}]
    assert server.auth_headers[-1] == "Bearer sk-secret-123"


def test_500_then_success_is_retried(server: ScriptedServer) -> None:
    server.script = ["500", "500"]
    llm = OpenAiLlm(base_url=server.base_url, retries=2, retry_base_delay_s=0.01)
    assert "".join(llm.stream(MESSAGES, GenerationParams(), lambda: False)) == "".join(PIECES)
    assert len(server.requests) == 3


def test_500_beyond_retries_fails_with_one_line(server: ScriptedServer) -> None:
    server.script = ["500", "500", "500"]
    llm = OpenAiLlm(base_url=server.base_url, retries=1, retry_base_delay_s=0.01)
    with pytest.raises(BackendError) as exc:
        list(llm.stream(MESSAGES, GenerationParams(), lambda: False))
    assert "HTTP 500" in str(exc.value) and "\n" not in str(exc.value)
    assert len(server.requests) == 2


def test_client_error_is_not_retried_and_hides_key(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KITSU_TEST_KEY", "sk-secret-123")
    server.script = ["401"]
    llm = OpenAiLlm(base_url=server.base_url, api_key_env="KITSU_TEST_KEY", retry_base_delay_s=0.01)
    with pytest.raises(BackendError) as exc:
        list(llm.stream(MESSAGES, GenerationParams(), lambda: False))
    text = str(exc.value)
    assert "HTTP 401" in text and "$KITSU_TEST_KEY" in text and "sk-secret" not in text
    assert len(server.requests) == 1


def test_error_event_in_stream(server: ScriptedServer) -> None:
    server.script = ["error-event"]
    llm = OpenAiLlm(base_url=server.base_url)
    with pytest.raises(BackendError, match="model not loaded"):
        list(llm.stream(MESSAGES, GenerationParams(), lambda: False))


def test_should_stop_ends_the_stream_early(server: ScriptedServer) -> None:
    server.release.clear()  # the server pauses after two pieces
    llm = OpenAiLlm(base_url=server.base_url)
    received: list[str] = []

    def should_stop() -> bool:
        if len(received) >= 2:
            server.release.set()
            return True
        return False

    for piece in llm.stream(MESSAGES, GenerationParams(), should_stop):
        received.append(piece)
    assert received == PIECES[:2]


def test_unreachable_server_names_url_and_fix() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    llm = OpenAiLlm(base_url=url, retries=1, retry_base_delay_s=0.01, timeout_s=2)
    with pytest.raises(BackendError) as exc:
        llm.load()
    text = str(exc.value)
    assert text.startswith(f"cannot reach LLM server at {url}") and "set llm.base_url" in text and "\n" not in text
    with pytest.raises(BackendError, match="is Ollama running"):
        list(llm.stream(MESSAGES, GenerationParams(), lambda: False))
