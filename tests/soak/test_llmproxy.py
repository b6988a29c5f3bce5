"""The fault proxy in front of a real llama_cpp.server, driven by kitsu's real OpenAI-compatible backend."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.backends.llm_openai import OpenAiLlm
from kitsu_tui.soak.llmproxy import FaultProxy
from kitsu_tui.soak.llmserver import LlamaServer

MESSAGES = [ChatMessage("system", "You are a cheerful fox."), ChatMessage("user", "Tell me about your day at the park.")]
PARAMS = GenerationParams(max_tokens=40, temperature=0.0)


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    """A real llama_cpp.server on the embedded GGUF, behind the fault proxy (both on free ports)."""
    server = LlamaServer(n_ctx=1024)
    server.start()
    fault_proxy = FaultProxy(server.url.removesuffix("/v1"))
    fault_proxy.start()
    yield fault_proxy
    fault_proxy.stop()
    server.stop()


def backend(proxy: FaultProxy, timeout_s: float = 10.0) -> OpenAiLlm:
    llm = OpenAiLlm(base_url=f"{proxy.url}/v1", model="embedded", timeout_s=timeout_s, retries=1,
                    retry_base_delay_s=0.01)
    llm.load()
    return llm


def reply(llm: OpenAiLlm) -> list[str]:
    return list(llm.stream(MESSAGES, PARAMS, lambda: False))


def test_passes_a_real_streamed_reply(proxy: FaultProxy) -> None:
    proxy.set_mode("pass")
    pieces = reply(backend(proxy))
    assert len(pieces) > 3 and "".join(pieces).strip()


def test_500_is_retried_then_fails_in_one_line(proxy: FaultProxy) -> None:
    llm = backend(proxy)
    proxy.set_mode("500")
    before = proxy.faulted
    try:
        with pytest.raises(BackendError, match="HTTP 500"):
            reply(llm)
    finally:
        proxy.set_mode("pass")
    assert proxy.faulted - before == 2  # the first try and one retry
    assert reply(llm)


def test_hang_ends_at_the_client_timeout(proxy: FaultProxy) -> None:
    llm = backend(proxy, timeout_s=1.0)
    proxy.set_mode("hang")
    started = time.monotonic()
    try:
        with pytest.raises(BackendError):
            reply(llm)
    finally:
        proxy.set_mode("pass")
    assert 0.9 < time.monotonic() - started < 5.0


def test_refuse_closes_the_port_and_pass_reopens_it(proxy: FaultProxy) -> None:
    llm = backend(proxy)
    assert reply(llm)  # a kept-alive connection exists now
    proxy.set_mode("refuse")
    try:
        with pytest.raises(BackendError, match="(?i)refused|disconnected|reach"):
            reply(llm)
        with pytest.raises(BackendError, match="(?i)refused"):
            reply(llm)
    finally:
        proxy.set_mode("pass")
    assert reply(llm)


def test_cut_breaks_a_reply_that_had_started(proxy: FaultProxy) -> None:
    llm = backend(proxy)
    proxy.set_mode("cut")
    got: list[str] = []
    try:
        with pytest.raises(BackendError, match="broke off"):
            for piece in llm.stream(MESSAGES, PARAMS, lambda: False):
                got.append(piece)
    finally:
        proxy.set_mode("pass")
    assert got  # the viewer saw the start of the reply before it broke


def test_unknown_mode_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown proxy mode"):
        proxy.set_mode("explode")
