"""A real local OpenAI-compatible LLM server for fault soaks: `python -m llama_cpp.server` on the embedded GGUF."""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from kitsu_tui.backends.models import gguf_path

SERVER_DEPS_HINT = ("llama_cpp.server needs fastapi, uvicorn, sse-starlette, starlette-context and pydantic-settings; "
                    "run `bash scripts/dev.sh install`")


class LlmServerError(RuntimeError):
    """The local LLM server could not start; str() is one line with the cause."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reopenable_port(low: int = 20000, high: int = 32000) -> int:
    """A free port below Linux's ephemeral range (32768+), for a listener that closes and reopens its port: a port
    the kernel hands out to outgoing connections could be taken by one while it is closed."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class LlamaServer:
    """Starts llama_cpp.server on 127.0.0.1 as a child process, waits until /v1/models answers, stops it."""

    def __init__(self, model_path: str = "embedded", n_ctx: int = 2048, n_threads: int = 2,
                 log_path: Path | None = None) -> None:
        self.model = gguf_path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.log_path = log_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the server and wait until it answers; raises LlmServerError with the reason otherwise."""
        try:
            import fastapi  # noqa: F401
            import sse_starlette  # noqa: F401
            import starlette_context  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError:
            raise LlmServerError(SERVER_DEPS_HINT) from None
        self.port = free_port()
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
                   "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads)]
        # no --cache: llama.cpp already reuses the evaluated prefix of the last prompt; the RAM cache's state
        # saves cost more than they give (measured 160-250 ms first token with it, 140-160 ms without)
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log or subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise LlmServerError(f"llama_cpp.server exited with code {self._process.returncode}"
                                     + (f"; see {self.log_path}" if self.log_path else ""))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/models", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise LlmServerError(f"llama_cpp.server did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Terminate the server (kill after 5 s) and close its log."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5.0)
        log, self._log = self._log, None
        if log is not None:
            log.close()
