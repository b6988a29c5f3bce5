"""The embedded GGUF's Q8_0 copy: made once, reused, the same model, and never a reason for the LLM not to start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kitsu_tui.backends.gguf_fast import SUFFIX, copy_name, model_file, q8_copy
from kitsu_tui.backends.models import SMOLLM2, embedded_path
from kitsu_tui.config.settings import Settings

PROMPTS = [
    "<|im_start|>user\nhey Kitsu what games are you planning to play this weekend<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\ndo foxes actually like eating berries<|im_end|>\n<|im_start|>assistant\n[happy] Oh,",
    "<|im_start|>user\nI was thinking that maybe tomorrow",
]


def next_token_logprobs(path: Path) -> list[np.ndarray]:
    """log P(next token) after each prompt, from the GGUF at `path`."""
    from llama_cpp import Llama

    llm: Any = Llama(model_path=str(path), n_ctx=256, n_threads=2, n_threads_batch=2, verbose=False)
    out = []
    for prompt in PROMPTS:
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode(), add_bos=False, special=True))
        logits = np.asarray(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        logits -= logits.max()
        out.append(logits - np.log(np.exp(logits).sum()))
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cache dir, the copy) made once for this module."""
    cache = tmp_path_factory.mktemp("q8")
    return cache, q8_copy(embedded_path(SMOLLM2), cache)


def test_the_copy_is_made_once_and_reused(made: tuple[Path, Path]) -> None:
    cache, copy = made
    source = embedded_path(SMOLLM2)
    assert copy.parent == cache and copy.name == copy_name(source) and copy.name.endswith(SUFFIX)
    assert copy.read_bytes()[:4] == b"GGUF" and copy.stat().st_size > source.stat().st_size
    stamp = copy.stat().st_mtime_ns
    assert q8_copy(source, cache) == copy and copy.stat().st_mtime_ns == stamp, "a second start reuses the copy"
    assert model_file("embedded", cache) == copy
    assert model_file("embedded", None) == source, "without a cache dir the shipped file is used"
    assert not list(cache.glob("*.part")), "no partial file is left behind"


def test_the_copy_is_the_same_model(made: tuple[Path, Path]) -> None:
    """Next-token distributions match the shipped Q4_1: same greedy choice, KL far below what changes a reply."""
    _, copy = made
    for shipped, fast in zip(next_token_logprobs(embedded_path(SMOLLM2)), next_token_logprobs(copy), strict=True):
        assert int(shipped.argmax()) == int(fast.argmax())
        kl = float((np.exp(shipped) * (shipped - fast)).sum())
        assert 0 <= kl < 0.05, kl


def test_a_new_copy_replaces_the_stale_one(tmp_path: Path) -> None:
    """A new wheel (another size or mtime) makes a new copy; the old model's copy goes, other models' stay."""
    stale = tmp_path / f"{embedded_path(SMOLLM2).stem}.0123456789ab{SUFFIX}"
    stale.write_bytes(b"GGUF old")
    other = tmp_path / f"OtherModel.0123456789ab{SUFFIX}"
    other.write_bytes(b"GGUF other")
    copy = q8_copy(embedded_path(SMOLLM2), tmp_path)
    assert copy != embedded_path(SMOLLM2) and copy.parent == tmp_path
    assert not stale.exists() and other.exists()


def test_no_writable_cache_falls_back_to_the_shipped_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        assert q8_copy(embedded_path(SMOLLM2), blocker / "models") == embedded_path(SMOLLM2)
    assert "as shipped" in caplog.text and len(caplog.records) == 1


def test_settings_choose_the_copy_for_the_embedded_model_only(tmp_path: Path) -> None:
    from kitsu_tui.backends.factory import build_backends
    from kitsu_tui.backends.llm_llama import LlamaLlm

    llm = build_backends(Settings().with_values({"llm.cache_dir": tmp_path})).llm
    assert isinstance(llm, LlamaLlm) and llm.q8_dir == tmp_path
    off = build_backends(Settings().with_values({"llm.embedded_q8": False})).llm
    assert isinstance(off, LlamaLlm) and off.q8_dir is None
