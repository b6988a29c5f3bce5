"""Reading a partial transcript into the embedded SmolLM2's cache while the person still talks: the reply started on
the final transcript reuses it, and says the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kitsu_tui.backends.base import ChatMessage, GenerationParams, PromptPrefill

if TYPE_CHECKING:
    from kitsu_tui.backends.llm_llama import LlamaLlm

pytestmark = pytest.mark.models

PARTIAL = "I was thinking that maybe tomorrow we"
FINAL = "I was thinking that maybe tomorrow we could play the new horror game"


@pytest.fixture
def prefix(persona_prompt: list[ChatMessage]) -> list[ChatMessage]:
    """The shipped persona's prompt prefix (what every reply's prompt opens with)."""
    return persona_prompt


def cached_tokens(llm: LlamaLlm) -> list[int]:
    """The token ids the model's KV cache holds now."""
    raw = llm._require()
    return [int(t) for t in raw.input_ids[: raw.n_tokens]]


def test_the_partial_is_read_up_to_its_last_word(real_llm: LlamaLlm, prefix: list[ChatMessage]) -> None:
    """After the conversation is warm, a prefill reads the user header and the partial's words but its last one;
    the final transcript's prompt starts with exactly what the cache then holds, and a second prefill reads nothing."""
    assert isinstance(real_llm, PromptPrefill)
    real_llm.warm(prefix)
    warm = len(cached_tokens(real_llm))
    read = real_llm.prefill([*prefix, ChatMessage("user", PARTIAL)])
    cache = cached_tokens(real_llm)
    assert read > 0 and len(cache) > warm  # the warm-up's assistant header is replaced by the user's
    final = real_llm._prompt(real_llm._require(), [*prefix, ChatMessage("user", FINAL)])
    assert final is not None
    assert final.tokens[: len(cache)] == cache
    spoken = real_llm._require().detokenize(cache[-read:]).decode("utf-8", "replace")
    assert "maybe tomorrow" in spoken and not spoken.rstrip().endswith("we")  # the last word is left for the final
    assert real_llm.prefill([*prefix, ChatMessage("user", PARTIAL)]) == 0


def test_the_reply_after_a_prefill_is_the_same(real_llm: LlamaLlm, prefix: list[ChatMessage]) -> None:
    """Greedy: the reply to the final transcript opens the same whether a partial was read ahead or not."""
    params = GenerationParams(max_tokens=16, temperature=0.0)
    messages = [*prefix, ChatMessage("user", FINAL)]
    real_llm.warm(prefix)
    cold = "".join(real_llm.stream(messages, params, lambda: False))
    real_llm.warm(prefix)
    assert real_llm.prefill([*prefix, ChatMessage("user", PARTIAL)]) > 0
    warm = "".join(real_llm.stream(messages, params, lambda: False))
    assert cold.split()[:5] == warm.split()[:5] and cold.strip()


def test_nothing_to_read_without_a_user_message(real_llm: LlamaLlm, prefix: list[ChatMessage]) -> None:
    """A prompt that does not end on the user's words is not read: 0 tokens, the cache unchanged."""
    real_llm.warm(prefix)
    before = cached_tokens(real_llm)
    assert real_llm.prefill(prefix[:1]) == 0
    assert real_llm.prefill([*prefix, ChatMessage("assistant", "Hello there, friend!")]) == 0
    assert cached_tokens(real_llm) == before
