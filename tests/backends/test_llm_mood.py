"""The reply's mood tag on the embedded SmolLM2: chosen by the model, its fixed tokens read in one batch, and the
reply after it the same as when every tag token was decoded one by one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kitsu_tui.backends.base import ChatMessage, GenerationParams
from kitsu_tui.config.persona import load_persona

if TYPE_CHECKING:
    from kitsu_tui.backends.llm_llama import LlamaLlm

pytestmark = pytest.mark.models

ROOT = Path(__file__).resolve().parents[2]
LINES = ["hi kitsu!", "what's your favorite color?", "do foxes like snow?", "my cat knocked my coffee over",
         "I failed my driving test today", "wait you can sing??"]


@pytest.fixture(scope="module")
def persona() -> tuple[list[ChatMessage], tuple[str, ...]]:
    """The shipped persona's prompt prefix and its mood names."""
    persona = load_persona(ROOT / "personas", "kitsu", ROOT / "prompts")
    messages = [ChatMessage("system", persona.build_system_prompt(ROOT / "prompts"))]
    for example in persona.examples:
        messages += [ChatMessage("user", example.user), ChatMessage("assistant", example.assistant)]
    return messages, tuple(persona.mood_names)


def test_the_batched_tag_gives_the_same_greedy_reply(real_llm: LlamaLlm,
                                                      persona: tuple[list[ChatMessage], tuple[str, ...]]) -> None:
    """Greedy: the tag read in one batch leaves the same reply as the chat handler decoding it token by token.

    A batch of tokens goes through other matrix kernels than one token does, so the floats differ in their last
    bits and a near tie late in a reply may fall the other way (measured: 1 of these 6 replies, after 8 words).
    The tag and the reply's opening words are always the same.
    """
    prefix, moods = persona
    params = GenerationParams(max_tokens=24, temperature=0.0, mood_tags=moods)
    llm = real_llm._require()
    same = 0
    for line in LINES:
        messages = [*prefix, ChatMessage("user", line)]
        batched = "".join(real_llm.stream(messages, params, lambda: False))
        one_by_one = "".join(real_llm._from_chat(llm, messages, params))
        assert batched.split()[:5] == one_by_one.split()[:5], line
        mood = batched.split("]", 1)[0].lstrip("[")
        assert batched.startswith("[") and mood in moods, batched
        same += batched == one_by_one
    assert same >= len(LINES) - 2


def test_sampled_replies_open_with_a_tag_of_the_persona(real_llm: LlamaLlm,
                                                        persona: tuple[list[ChatMessage], tuple[str, ...]]) -> None:
    """At the persona's temperature every reply still opens with one of its moods, and more than one mood occurs."""
    prefix, moods = persona
    params = GenerationParams(max_tokens=12, temperature=1.0, mood_tags=moods)
    seen = set()
    for line in LINES * 2:
        reply = "".join(real_llm.stream([*prefix, ChatMessage("user", line)], params, lambda: False))
        assert reply.startswith("[") and "]" in reply, reply
        seen.add(reply[1 : reply.index("]")])
    assert seen <= set(moods) and len(seen) >= 2, seen


def test_a_stop_before_the_tag_yields_nothing(real_llm: LlamaLlm,
                                              persona: tuple[list[ChatMessage], tuple[str, ...]]) -> None:
    prefix, moods = persona
    params = GenerationParams(max_tokens=12, temperature=0.7, mood_tags=moods)
    assert list(real_llm.stream([*prefix, ChatMessage("user", "hi")], params, lambda: True)) == []


def test_a_prompt_longer_than_the_context_is_one_line_with_moods() -> None:
    """With mood tags the reply is read from tokens: a prompt that cannot fit is still the one-line n_ctx error."""
    from kitsu_tui.backends.base import BackendError
    from kitsu_tui.backends.llm_llama import LlamaLlm

    small = LlamaLlm(n_ctx=256)
    small.load()
    params = GenerationParams(max_tokens=8, mood_tags=("happy", "sad"))
    with pytest.raises(BackendError) as exc:
        list(small.stream([ChatMessage("user", "fox " * 600)], params, lambda: False))
    assert "n_ctx" in str(exc.value) and "\n" not in str(exc.value)
