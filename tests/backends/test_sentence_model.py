"""The sentence verdict on the embedded SmolLM2, from its own small context and from the reply's prompt: it tells a
whole sentence from a pause mid-sentence (kitsu bench times it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.backends.turn_text import TextTurn
from kitsu_tui.soak.endpoint_probe import load_dev_corpus

if TYPE_CHECKING:
    from kitsu_tui.backends.llm_llama import LlamaLlm

pytestmark = pytest.mark.models


def corpus_rows() -> list[tuple[str, str]]:
    """Every 4th line of the dev corpus (label, text): 110 lines keep it quick."""
    return load_dev_corpus()[::4]


def separation(scored: list[tuple[str, float]]) -> tuple[list[float], list[float], float]:
    """Whole utterances' and first parts' probabilities, and the ROC AUC of the one over the other."""
    whole = [p for label, p in scored if label == "complete"]
    halves = [p for label, p in scored if label == "incomplete"]
    assert len(whole) > 40 and len(halves) > 40
    auc = sum((w > h) + 0.5 * (w == h) for w in whole for h in halves) / (len(whole) * len(halves))
    return whole, halves, auc


@pytest.fixture(scope="module")
def sentence_model() -> TextTurn:
    model = TextTurn()
    model.load()
    return model


def test_it_separates_sentences_from_pauses_on_the_dev_corpus(sentence_model: TextTurn) -> None:
    """The dev corpus (440 lines, not the held-out voices): ranking quality and the default thresholds' errors."""
    whole, halves, auc = separation([(label, sentence_model.end_prob(text)) for label, text in corpus_rows()])
    assert auc > 0.9, auc
    assert sum(h >= 0.2 for h in halves) / len(halves) < 0.12  # halves taken for sentences at the default threshold
    assert sum(w >= 0.2 for w in whole) / len(whole) > 0.7  # sentences that end at the base silence
    assert sum(w < 0.02 for w in whole) / len(whole) < 0.05  # sentences sent to the longest wait


def test_a_question_without_its_mark_ends_and_a_half_does_not(sentence_model: TextTurn) -> None:
    assert sentence_model.end_prob("what is your favourite snack") > 0.2
    assert sentence_model.end_prob("can you tell me about the") < 0.02
    assert sentence_model.end_prob("") == 0.0


def test_a_missing_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        TextTurn(str(tmp_path / "nope.gguf")).load()
    assert "\n" not in str(caught.value)


def reply_verdict(llm: LlamaLlm, prompt: list[ChatMessage], text: str) -> tuple[float | None, str]:
    """P(the message ends) read by a greedy reply's prefill, and the reply's first words."""
    verdicts: list[float | None] = []
    params = GenerationParams(max_tokens=8, temperature=0.0, on_message_end=verdicts.append)
    reply = "".join(llm.stream([*prompt, ChatMessage("user", text)], params, lambda: False))
    assert len(verdicts) == 1
    return verdicts[0], reply


def test_the_reply_prompt_separates_sentences_from_pauses(real_llm: LlamaLlm,
                                                          persona_prompt: list[ChatMessage]) -> None:
    """The verdict the sentence rule takes from the reply's own prefill, with the persona's prompt before it: on the
    dev corpus it separates better than the small context (AUC 0.997 against 0.976 over all 440 lines)."""
    assert real_llm.message_end_ready()
    scored = []
    for label, text in corpus_rows():
        prob, _ = reply_verdict(real_llm, persona_prompt, text)
        assert prob is not None and 0.0 <= prob <= 1.0
        scored.append((label, prob))
    whole, halves, auc = separation(scored)
    assert auc > 0.95, auc
    assert sum(h >= 0.2 for h in halves) / len(halves) < 0.08  # halves taken for sentences at the default threshold
    assert sum(w >= 0.2 for w in whole) / len(whole) > 0.9  # sentences that end at the base silence
    assert sum(w < 0.02 for w in whole) / len(whole) < 0.03  # sentences sent to the longest wait


def test_reading_the_verdict_leaves_the_reply_as_it_was(real_llm: LlamaLlm, persona_prompt: list[ChatMessage]) -> None:
    """The split prefill (up to the text, then the rest from the cache) makes the same greedy reply as one prefill."""
    text = "what is your favourite snack"
    prob, split = reply_verdict(real_llm, persona_prompt, text)
    assert prob is not None and prob > 0.2
    params = GenerationParams(max_tokens=8, temperature=0.0)
    real_llm._require().reset()
    whole = "".join(real_llm.stream([*persona_prompt, ChatMessage("user", text)], params, lambda: False))
    assert split == whole and split.strip()
    half, _ = reply_verdict(real_llm, persona_prompt, "can you tell me about the")
    assert half is not None and half < 0.02


def test_a_full_stop_does_not_decide_the_verdict(real_llm: LlamaLlm, persona_prompt: list[ChatMessage],
                                                 sentence_model: TextTurn) -> None:
    """Whisper puts a full stop at a pause for breath too: both verdicts are read before the final mark, so a
    punctuated half is still a half and a punctuated sentence still a sentence (the same value as without it, but for the last bits of a batched prefill)."""
    for text in ("I was thinking that maybe tomorrow", "can you tell me about the", "what is your favourite snack"):
        bare, _ = reply_verdict(real_llm, persona_prompt, text)
        for mark in (".", "?", "!"):
            marked, _ = reply_verdict(real_llm, persona_prompt, text + mark)
            assert bare is not None and marked is not None and abs(marked - bare) < 0.01, (text, mark, bare, marked)
        assert abs(sentence_model.end_prob(text + ".") - sentence_model.end_prob(text)) < 1e-6
    half, _ = reply_verdict(real_llm, persona_prompt, "I was thinking that maybe tomorrow.")
    assert half is not None and half < 0.2
