"""Local GGUF chat model on llama-cpp-python, streamed token by token with a cooperative stop flag."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from kitsu_tui.backends.base import BackendError, ChatMessage, GenerationParams
from kitsu_tui.backends.gguf_fast import Q8Dir, model_file
from kitsu_tui.backends.llm_mood import Logits, MoodTagConstraint, TokenIds, forced_mood
from kitsu_tui.backends.turn_text import last_token_share, sentence_end_tokens, unpunctuated

log = logging.getLogger(__name__)

LLAMA_HINT = "pip install llama-cpp-python with CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON' (run scripts/dev.sh install)"
REPEAT_CONTEXT = 3
"""Tokens of context after which a token that continued the same context in an earlier reply is damped."""
REPEAT_DAMPING = 3.0
"""Logit subtracted from such a token: earlier replies' phrases become unlikely, not impossible."""



class RepeatDamper:
    """Logits processor: a token that followed the same REPEAT_CONTEXT tokens in an earlier reply is damped.

    llama.cpp's repeat/presence penalties only see the last 64 tokens, which hold the viewer's question (words
    the answer should use); this looks at the persona's own recent replies instead.
    """

    def __init__(self, replies: list[list[int]], context: int = REPEAT_CONTEXT, damping: float = REPEAT_DAMPING) -> None:
        self.context = context
        self.damping = damping
        self.follows: dict[tuple[int, ...], set[int]] = {}
        for tokens in replies:
            for i in range(len(tokens) - context):
                self.follows.setdefault(tuple(tokens[i : i + context]), set()).add(tokens[i + context])

    def __call__(self, input_ids: TokenIds, scores: Logits) -> Logits:
        if len(input_ids) < self.context:
            return scores
        nxt = self.follows.get(tuple(int(t) for t in input_ids[-self.context :]))
        if nxt:
            ids = np.fromiter(nxt, dtype=np.intp, count=len(nxt))
            scores[ids] -= self.damping
        return scores


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """ChatMessage list -> the [{'role', 'content'(, 'name')}] dicts both llama.cpp and OpenAI servers take."""
    return [{"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})} for m in messages]


def one_line(exc: BaseException) -> str:
    """First line of an exception's text (or its type name), shortened for a status line."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


@dataclass
class KvState:
    """A llama.cpp context's state (KV cache, RNG) and the token ids it holds, without the unused logits table."""

    data: Any
    size: int
    input_ids: Any
    n_tokens: int


@dataclass
class PromptTokens:
    """A chat prompt as the GGUF's template formats it: its tokens and how the chat handler would stop."""

    tokens: list[int]
    head: int
    """Tokens up to the end of the last user message's words, before a final . ! or ? (0: no split there)."""
    stop: list[str]
    criteria: Any
    """The template's stopping criteria (its end-of-turn token ids), or None."""


def save_kv_state(llm: Any) -> KvState:
    """Copy the context's state once into a C buffer.

    Llama.save_state() also copies its n_batch x n_vocab logits table (512 x 49152 floats = 100 MB for
    SmolLM2) and the state bytes three times; with logits_all off that table is never read, so here it is
    skipped: one copy of the KV cache (~25 kB per token) instead of ~300 MB of transient RSS per summary.
    """
    import llama_cpp

    ctx = llm._ctx.ctx
    capacity = int(llama_cpp.llama_state_get_size(ctx))
    data = (ctypes.c_uint8 * capacity)()
    size = int(llama_cpp.llama_state_get_data(ctx, data, capacity))
    if size > capacity:
        raise BackendError("llama.cpp state larger than announced; cannot save the conversation cache")
    return KvState(data=data, size=size, input_ids=llm.input_ids.copy(), n_tokens=int(llm.n_tokens))


def load_kv_state(llm: Any, state: KvState) -> None:
    """Put a saved state back: the next prompt with the same prefix reuses the restored KV cache."""
    import llama_cpp

    if int(llama_cpp.llama_state_set_data(llm._ctx.ctx, state.data, state.size)) != state.size:
        llm.n_tokens = 0  # nothing cached can be trusted: the next prompt is read from the start
        raise BackendError("llama.cpp refused the saved conversation cache; the next reply re-reads its prompt")
    llm.input_ids[:] = state.input_ids
    llm.n_tokens = state.n_tokens
    llm._requires_eval = True  # restored logits are stale: an exact prompt hit replays its last token


class LlamaLlm:
    """SmolLM2 (or any GGUF) via llama.cpp; the chat template comes from the GGUF metadata."""

    def __init__(
        self,
        model_path: str = "embedded",
        n_ctx: int = 2048,
        n_threads: int = 2,
        n_gpu_layers: int = 0,
        chat_format: str | None = None,
        q8_dir: Q8Dir = "default",
    ) -> None:
        self.model_path = model_path
        self.q8_dir = q8_dir
        """Where the embedded model's Q8_0 copy is kept ("default": the user cache; None: the shipped Q4_1 file; see gguf_fast)."""
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.chat_format = chat_format
        self._llm: Any = None
        self._formatter: Any = None
        """The GGUF's own chat template (what create_chat_completion formats with), for reading the prompt's middle."""
        self._ends: np.ndarray = np.zeros(0, dtype=np.intp)
        """Tokens that end a sentence or a message: their share after the user's text is P(the message ends)."""

    def load(self) -> None:
        """Open the GGUF (quietly: verbose=False keeps llama.cpp's C logging off the terminal)."""
        try:
            import llama_cpp
        except ImportError as exc:
            raise BackendError(f"llama-cpp-python is not installed: {LLAMA_HINT}") from exc
        path = model_file(self.model_path, self.q8_dir, self.n_threads)
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_gpu_layers=self.n_gpu_layers,
                chat_format=self.chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendError(
                f"cannot load GGUF model {path}: {one_line(exc)} (corrupt file? set llm.model_path)"
            ) from exc
        self._formatter = template_formatter(self._llm)
        self._ends = sentence_end_tokens(self._llm) if self._formatter is not None else self._ends

    def message_end_ready(self) -> bool:
        """True when stream() answers GenerationParams.on_message_end: the GGUF's own chat template formats the
        prompt, and its vocabulary has sentence-ending tokens."""
        return self._llm is not None and self._formatter is not None and bool(self._ends.size)

    def stream(
        self, messages: list[ChatMessage], params: GenerationParams, should_stop: Callable[[], bool]
    ) -> Iterator[str]:
        """Yield reply text pieces; should_stop() is checked after every token and ends generation at once."""
        llm = self._require()
        try:
            prompt = self._prompt(llm, messages)
        except ValueError as exc:
            raise BackendError(f"LLM prompt rejected: {one_line(exc)}") from exc
        if params.on_message_end is not None:
            params.on_message_end(self._message_end(llm, prompt))
        try:
            pieces = (self._from_tokens(llm, prompt, params, should_stop) if prompt is not None
                      else self._from_chat(llm, messages, params))
        except ValueError as exc:  # e.g. the prompt does not fit n_ctx
            raise BackendError(f"LLM prompt rejected: {one_line(exc)} (lower llm.history_turns or raise llm.n_ctx)") from exc
        try:
            for piece in pieces:
                if should_stop():
                    return
                if piece:
                    yield piece
                if should_stop():
                    return
        except ValueError as exc:
            raise BackendError(f"LLM generation failed: {one_line(exc)} (raise llm.n_ctx?)") from exc
        finally:
            pieces.close()

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        """create_completion's sampling arguments for `params` (the chat handler's defaults otherwise)."""
        return {"temperature": params.temperature, "top_p": params.top_p, "repeat_penalty": params.repeat_penalty,
                "presence_penalty": params.presence_penalty, "frequency_penalty": params.frequency_penalty}

    def _from_chat(self, llm: Any, messages: list[ChatMessage], params: GenerationParams) -> Generator[str, None, None]:
        """The reply through llama.cpp's chat handler (a chat format other than the GGUF's own template)."""
        chunks = llm.create_chat_completion(
            messages=to_openai_messages(messages), stream=True, max_tokens=params.max_tokens,
            stop=list(params.stop) or None, logits_processor=self._processors(llm, params), **self._sampling(params))
        try:
            for chunk in chunks:
                yield chunk["choices"][0]["delta"].get("content") or ""
        finally:
            chunks.close()

    def _from_tokens(self, llm: Any, prompt: PromptTokens, params: GenerationParams,
                     should_stop: Callable[[], bool]) -> Generator[str, None, None]:
        """The reply from the formatted prompt's tokens, as the chat handler would make it; a mood tag's fixed
        tokens are read in one batch instead of being decoded one by one (see forced_mood)."""
        import llama_cpp

        tokens, max_tokens = list(prompt.tokens), params.max_tokens
        if len(tokens) + 4 >= self.n_ctx:  # the tag's tokens must fit too; create_completion's own check, earlier
            raise ValueError(f"Requested tokens ({len(tokens)}) exceed context window of {self.n_ctx}")
        dampers = self._dampers(llm, params)  # stateless: one set serves the tag's choice and the reply
        tag = forced_mood(llm, tokens, [(mood, self._tokens(llm, f"[{mood}]")) for mood in params.mood_tags],
                          self._sampling(params), dampers, should_stop) if params.mood_tags else None
        if tag is not None:
            text, tag_tokens = tag
            yield text
            tokens += tag_tokens
            max_tokens = max(1, max_tokens - len(tag_tokens))
            processors = llama_cpp.LogitsProcessorList(dampers) if dampers else None
        else:
            processors = self._processors(llm, params, dampers)
        chunks = llm.create_completion(
            prompt=tokens, stream=True, max_tokens=max_tokens, stop=list(params.stop) + prompt.stop,
            stopping_criteria=prompt.criteria, logits_processor=processors, **self._sampling(params))
        try:
            for chunk in chunks:
                yield chunk["choices"][0]["text"]
        finally:
            chunks.close()

    def complete_aside(self, messages: list[ChatMessage], params: GenerationParams,
                       should_stop: Callable[[], bool] = lambda: False) -> str:
        """A side completion (e.g. a memory summary) that leaves the conversation's KV cache as it was.

        Prefill runs at ~250 tokens/s on 2 cores, so losing the cached conversation costs ~2 s on the next
        reply; the cache is saved before and restored after. `should_stop` ends it early with the text so far.
        """
        llm = self._require()
        state = save_kv_state(llm)
        try:
            return "".join(self.stream(messages, params, should_stop))
        finally:
            load_kv_state(llm, state)

    def warm(self, messages: list[ChatMessage]) -> None:
        """Evaluate `messages` (typically the system prompt) so the next prompt reuses their KV cache."""
        if not messages:
            return
        llm = self._require()
        try:
            llm.create_chat_completion(messages=to_openai_messages(messages), max_tokens=1, temperature=0.0)
        except ValueError as exc:
            raise BackendError(f"LLM warm-up failed: {one_line(exc)} (system prompt longer than llm.n_ctx?)") from exc

    def _prompt(self, llm: Any, messages: list[ChatMessage]) -> PromptTokens | None:
        """The chat prompt as the GGUF's template formats and tokenizes it; None under another chat format."""
        if self._formatter is None:
            return None
        result = self._formatter(messages=to_openai_messages(messages))
        prompt = str(result.prompt)
        add_bos = not result.added_special
        tokens = [int(t) for t in llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)]
        stop = [] if result.stop is None else [result.stop] if isinstance(result.stop, str) else list(result.stop)
        head = 0
        text = messages[-1].content if messages and messages[-1].role == "user" else ""
        end = prompt.rfind(text) if text.strip() else -1
        words = unpunctuated(text)
        if end >= 0 and words:
            at = end + text.find(words) + len(words)  # the verdict is read before the text's final . ! or ?
            cut = [int(t) for t in llm.tokenize(prompt[:at].encode("utf-8"), add_bos=add_bos, special=True)]
            head = len(cut) if len(cut) < len(tokens) and tokens[: len(cut)] == cut else 0
        return PromptTokens(tokens, head, stop, result.stopping_criteria)

    def _message_end(self, llm: Any, prompt: PromptTokens | None) -> float | None:
        """Prefill the prompt up to the end of the last user message's words and read P(the message ends there).

        The reply's prefill passes that point anyway: the rest of the prompt (end of message, the assistant's
        header) is then read from the cache. None when the prompt cannot be split there.
        """
        if prompt is None or not prompt.head or len(prompt.tokens) > self.n_ctx:
            return None  # the text's last token merges with what follows, or the prompt will be refused anyway
        try:
            head = prompt.tokens[: prompt.head]
            cached = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens], head[:-1])
            llm.n_tokens = cached
            llm.eval(head[cached:])
            return last_token_share(llm, self._ends)
        except Exception:  # the verdict is an extra: the reply itself must never fail for it
            log.debug("could not read the message's end off the prompt", exc_info=True)
            return None

    def prefill(self, messages: list[ChatMessage]) -> int:
        """Read the prompt up to the last user message's words into the KV cache, without replying (a partial
        transcript while the person still talks): the reply, started on the final transcript, then reads only
        what changed. The last word's token is left out (the final transcript may end it differently)."""
        llm = self._require()
        try:
            prompt = self._prompt(llm, messages)
            if prompt is None or prompt.head < 2 or prompt.head >= self.n_ctx:
                return 0
            head = prompt.tokens[: prompt.head - 1]
            cached = int(llm.longest_token_prefix(llm.input_ids[: llm.n_tokens], head))
            if cached >= len(head):
                return 0
            llm.n_tokens = cached
            llm.eval(head[cached:])
            return len(head) - cached
        except Exception:  # a head start only: the reply reads its prompt anyway
            log.debug("could not prefill the prompt", exc_info=True)
            return 0

    def probe(self) -> bool:
        """The model is loaded and its tokenizer answers (no generation: the conversation's KV cache stays)."""
        return bool(self._tokens(self._require(), "ok"))

    def _processors(self, llm: Any, params: GenerationParams, dampers: list[Any] | None = None) -> Any:
        """The logits processors `params` ask for (mood tag, repetition damping: `dampers` when already made), or None."""
        import llama_cpp

        processors: list[Any] = []
        if params.mood_tags:
            processors.append(MoodTagConstraint([self._tokens(llm, f"[{mood}]") for mood in params.mood_tags]))
        processors += self._dampers(llm, params) if dampers is None else dampers
        return llama_cpp.LogitsProcessorList(processors) if processors else None

    def _dampers(self, llm: Any, params: GenerationParams) -> list[Any]:
        """The repetition damper `params` ask for (replies to avoid echoing), as a list of processors."""
        return [RepeatDamper([self._tokens(llm, f" {reply}") for reply in params.avoid])] if params.avoid else []

    @staticmethod
    def _tokens(llm: Any, text: str) -> list[int]:
        """Token ids of plain text (no BOS, special tokens not parsed)."""
        return [int(t) for t in llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

    def _require(self) -> Any:
        """The loaded llama_cpp.Llama, or a BackendError when load() was not called."""
        if self._llm is None:
            raise BackendError("llama.cpp model used before load()")
        return self._llm


def template_formatter(llm: Any) -> Any:
    """The Jinja formatter of a llama_cpp.Llama's GGUF chat template, when that is what it formats chats with;
    None for another chat format (the sentence endpoint then asks its own model)."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    if llm.chat_format != "chat_template.default" or not template or llm.chat_handler is not None:
        return None
    eos, bos = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "", stop_token_ids=[eos])
