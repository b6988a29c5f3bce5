"""P(the sentence ends here) for an early transcript, from the embedded SmolLM2's next-token distribution."""

from __future__ import annotations

from typing import Any

import numpy as np

from kitsu_tui.backends.base import BackendError
from kitsu_tui.backends.gguf_fast import Q8Dir, model_file

MAX_WORDS = 40
"""Only the transcript's last words are read: the end of a turn is decided by how it ends."""
END_MARKS = ".?!"
"""A next token made only of these (and closing quotes) ends the sentence; an ellipsis does not."""
PROMPT = "<|im_start|>user\n"
"""The chat template's user turn: the model reads the transcript as a message someone is typing."""


class TextTurn:
    """End-of-sentence probability from a small GGUF language model, on its own context (tens of ms, one thread).

    The transcript arrives without final punctuation; the model says how likely the next token is ". ? !" or
    the end of the message, against a word that would carry the sentence on ("I think the best part of the").
    """

    def __init__(self, model_path: str = "embedded", threads: int = 1, q8_dir: Q8Dir = "default") -> None:
        self.model_path = model_path
        self.threads = threads
        self.q8_dir = q8_dir
        """Where the embedded model's Q8_0 copy is kept ("default": the user cache; None: the shipped Q4_1 file)."""
        self._llm: Any = None
        self._ends: np.ndarray = np.zeros(0, dtype=np.intp)

    def load(self) -> None:
        """Open the GGUF model on a small context and find the tokens that end a sentence."""
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - llama-cpp-python is a core dependency
            raise BackendError(f"llama-cpp-python is not installed: {exc}") from exc
        path = model_file(self.model_path, self.q8_dir, self.threads)
        # n_threads_batch too: left to its default (every core) it opens an OpenMP team on the VAD's thread whose
        # idle worker spins beside the reply's llama.cpp threads, and the reply decoded at half speed (measured:
        # 10.8 -> 21.8 ms per token on 2 cores, for good, once this model had run once).
        llm = Llama(model_path=str(path), n_ctx=128, n_batch=64, n_threads=self.threads,
                    n_threads_batch=self.threads, verbose=False)
        ends = sentence_end_tokens(llm)
        if not ends.size:
            raise BackendError(f"{path}: no sentence-ending tokens in its vocabulary")
        self._ends = ends
        self._llm = llm

    def end_prob(self, text: str) -> float:
        """P(the next token ends the sentence or the message) after `text` without its final . ! or ?, in 0..1."""
        llm = self._llm
        if llm is None:
            raise BackendError("text turn model used before load()")
        words = unpunctuated(text).split()[-MAX_WORDS:]
        if not words:
            return 0.0
        tokens = llm.tokenize((PROMPT + " ".join(words)).encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(tokens)
        return last_token_share(llm, self._ends)


def unpunctuated(text: str) -> str:
    """`text` without its final . ! or ? (and the quotes after it): the point where P(the message ends) is read.

    Whisper puts a full stop after most pauses, whole sentence or not ("I was thinking that maybe tomorrow."),
    so the verdict is read before it, as for a transcript that came without one. An ellipsis stays.
    """
    stripped = text.strip()
    core = stripped.rstrip("\"')]")
    if not core or core[-1] not in END_MARKS or core.endswith(("..", "…")):
        return stripped
    return core.rstrip(END_MARKS).rstrip()


def sentence_end_tokens(llm: Any) -> np.ndarray:
    """The ids of a llama_cpp.Llama's tokens that end a sentence (". ? !" and their quoted forms) or the message
    (<|im_end|>, ChatML's end of message); a vocabulary scan of the whole model."""
    ends = [i for i in range(llm.n_vocab()) if _ends_sentence(_piece(llm, i))]
    ends += llm.tokenize(b"<|im_end|>", add_bos=False, special=True)[:1]
    return np.asarray(sorted(set(ends)), dtype=np.intp)


def last_token_share(llm: Any, tokens: np.ndarray) -> float:
    """The probability mass of `tokens` in the next-token distribution after the last evaluated token, in 0..1."""
    import llama_cpp

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
    logits = logits.astype(np.float64)  # the last token's row: Llama.scores stays empty without logits_all
    probs = np.exp(logits - logits.max())
    return float(probs[tokens].sum() / probs.sum())


def _piece(llm: Any, token: int) -> str:
    try:
        return str(llm.detokenize([token]).decode("utf-8"))
    except UnicodeDecodeError:
        return ""


def _ends_sentence(piece: str) -> bool:
    """A token such as "." "?" "!" "?!" or '."' (not "..." and not a word)."""
    mark = piece.strip()
    return bool(mark) and mark[0] in END_MARKS and not mark.startswith("..") and all(c in END_MARKS + "\"')" for c in mark)
