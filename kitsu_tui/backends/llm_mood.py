"""The reply's `[mood]` tag: a logits processor that forces one, and a faster way to read its fixed tokens.

SmolLM2 spells "[happy]" as "[", "happy", "]" and "[surprised]" as "[", "sur", "prised", "]". Only one of those
tokens is a choice; decoded one by one, the others cost a full decode step each (~12 ms on 2 cores) before the
first word of the reply. forced_mood puts the "[" into the prompt, samples only the choosing token(s), and leaves
the rest of the tag to be read in one batch with the reply's first step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Logits = npt.NDArray[np.single]
TokenIds = npt.NDArray[np.intc]


class MoodTagConstraint:
    """Logits processor: the reply's first tokens must spell one of the `[mood]` tags; after that it steps aside.

    Cheaper than a GBNF grammar, which llama.cpp would evaluate against the whole vocabulary on every token of
    the reply: this masks two to four tokens, then each call returns at once. The model still picks the mood.
    """

    def __init__(self, sequences: list[list[int]]) -> None:
        self.sequences = [seq for seq in sequences if seq]
        self.done = not self.sequences
        self._start: int | None = None

    def __call__(self, input_ids: TokenIds, scores: Logits) -> Logits:
        if self.done:
            return scores
        if self._start is None:
            self._start = len(input_ids)  # the first call sees exactly the prompt
        generated = [int(t) for t in input_ids[self._start :]]
        step = len(generated)
        allowed = {seq[step] for seq in self.sequences if len(seq) > step and seq[:step] == generated}
        if not allowed:
            self.done = True
            return scores
        ids = np.fromiter(allowed, dtype=np.intp, count=len(allowed))
        masked = np.full_like(scores, -np.inf)
        masked[ids] = scores[ids]
        return masked


def forced_mood(llm: Any, prompt: list[int], tags: Sequence[tuple[str, list[int]]], sampling: dict[str, Any],
                others: Sequence[Any], should_stop: Callable[[], bool]) -> tuple[str, list[int]] | None:
    """Choose the reply's mood tag after `prompt` with the reply's own sampling, decoding only the tokens that choose.

    `tags` are (mood, its "[mood]" tokens); `others` are the reply's other logits processors. Returns ("[mood]", the tag's tokens) with every token but the chosen
    ones still unread, so the reply's first step reads them in one batch; None when the tags do not all open
    with the same token (the reply then decodes its tag as before) or should_stop() is set.
    """
    import llama_cpp

    tags = [(mood, tokens) for mood, tokens in tags if len(tokens) >= 2]
    if not tags or len({tokens[0] for _, tokens in tags}) != 1:
        return None
    opener = tags[0][1][0]
    llm.set_seed(random.Random(llm._seed).randint(0, 2**32))  # as create_completion seeds each reply
    chosen: list[int] = []
    while True:
        left = [(mood, tokens) for mood, tokens in tags if tokens[1 : 1 + len(chosen)] == chosen]
        if len(left) == 1 or should_stop():
            break
        step = len(chosen) + 1
        if len({tokens[step] for _, tokens in left if len(tokens) > step}) == 1 and all(len(t) > step for _, t in left):
            chosen.append(left[0][1][step])  # every tag left goes on with the same token: nothing to choose
            continue
        suffixes = [tokens[step:] for _, tokens in left]
        processors = llama_cpp.LogitsProcessorList([MoodTagConstraint(suffixes), *others])
        generator = llm.generate([*prompt, opener, *chosen], top_k=40, min_p=0.05, typical_p=1.0,
                                 temp=sampling["temperature"], top_p=sampling["top_p"],
                                 repeat_penalty=sampling["repeat_penalty"],
                                 presence_penalty=sampling["presence_penalty"],
                                 frequency_penalty=sampling["frequency_penalty"], logits_processor=processors)
        try:
            chosen.append(int(next(generator)))
        finally:
            generator.close()
    if should_stop() or len(left) != 1:
        return None
    mood, tokens = left[0]
    return f"[{mood}]", tokens
