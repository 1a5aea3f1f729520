"""The embedded model on cyllama, a prebuilt wheel of llama.cpp's C API: load a GGUF, render
a chat with the model's own template, and generate tokens, optionally under a grammar."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistantd.providers.chat_template import ChatTemplate
from assistantd.providers.llama_model import Generation, GrammarError, ModelLoadError, Sampling

# Tokens per llama_decode call while reading the prompt: a batch above the context's n_batch
# aborts the process, and between batches a stop request is honoured.
PROMPT_BATCH = 512
# Like llama-cpp-python's defaults, so both runtimes sample alike.
_TOP_K = 40
_MIN_P = 0.05
_PENALTY_LAST_N = 64
_RANDOM_SEED = 0xFFFFFFFF
# A UTF-8 character spans at most 4 tokens (one byte each); text ending in U+FFFD waits for
# at most that many more before it is let through as it is.
_MAX_SPLIT = 4
_GGML_LOG_LEVEL_ERROR = 4


class NativeLog:
    """llama.cpp's log, kept quiet; its errors are remembered, because a grammar it cannot
    parse is reported only there (and sampling under it would crash)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __call__(self, level: int, text: str) -> None:
        if level == _GGML_LOG_LEVEL_ERROR:
            self.errors.append(text.strip())


class CyllamaModel:
    """Implements `LlamaModel`: one loaded GGUF model with its context (KV cache)."""

    def __init__(self, cy: Any, model: Any, ctx: Any, path: Path, native_log: NativeLog) -> None:
        self.path = path
        self._cy = cy
        self._model = model
        self._ctx = ctx
        self._log = native_log
        # The tokens whose keys and values the context holds, by position: the next prompt
        # that starts with them is read from where they end (a thread's next turn).
        self._in_context: list[int] = []
        self._vocab = model.get_vocab()
        self._template = ChatTemplate(
            model.metadata().get("tokenizer.chat_template"),
            bos_token=self._token_text(self._vocab.token_bos()),
            eos_token=self._token_text(self._vocab.token_eos()),
        )

    @classmethod
    def load(cls, path: Path, *, n_ctx: int, n_threads: int) -> CyllamaModel:
        import cyllama.llama.llama_cpp as cy

        native_log = NativeLog()
        cy.set_log_callback(native_log)  # process-wide; the server loads one model
        try:
            model = cy.LlamaModel(str(path), cy.LlamaModelParams())
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from exc
        params = cy.LlamaContextParams()
        params.n_ctx = n_ctx
        params.n_batch = min(PROMPT_BATCH, n_ctx)
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        try:
            ctx = cy.LlamaContext(model, params)
        except (ValueError, RuntimeError, MemoryError) as exc:
            model.close()
            raise ModelLoadError(f"llama.cpp could not create a context for {path}: {exc}") from exc
        return cls(cy, model, ctx, path, native_log)

    @property
    def n_ctx(self) -> int:
        return int(self._ctx.n_ctx)

    def chat_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        prompt = self._template.render(messages)
        add_bos = not (self._template.bos_token and prompt.startswith(self._template.bos_token))
        return list(self._vocab.tokenize(prompt, add_bos, True))

    def generate(
        self,
        tokens: Sequence[int],
        sampling: Sampling,
        grammar: str | None,
        result: Generation,
        stop_requested: Callable[[], bool],
    ) -> Iterator[str]:
        sampler = self._sampler(sampling, grammar)  # first: a bad grammar fails before any work
        try:
            yield from self._run(list(tokens), sampler, sampling, result, stop_requested)
        finally:
            sampler.close()

    def close(self) -> None:
        self._ctx.close()
        self._model.close()

    def _sampler(self, sampling: Sampling, grammar: str | None) -> Any:
        """llama-cpp-python's chain: penalties, grammar, then greedy or top-k/p/min-p/temp."""
        cy = self._cy
        sampler = cy.LlamaSampler(cy.LlamaSamplerChainParams())
        sampler.add_penalties(
            _PENALTY_LAST_N,
            sampling.repeat_penalty,
            sampling.frequency_penalty,
            sampling.presence_penalty,
        )
        if grammar:
            self._log.errors.clear()
            sampler.add_grammar(self._vocab, grammar, "root")
            if self._log.errors:
                # llama.cpp put a null sampler in the chain: freeing it is safe, sampling is not.
                sampler.close()
                raise GrammarError(f"llama.cpp rejected the grammar: {self._log.errors[-1]}")
        if sampling.temperature <= 0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(_TOP_K)
            sampler.add_top_p(sampling.top_p, 1)
            sampler.add_min_p(_MIN_P, 1)
            sampler.add_temp(sampling.temperature)
            sampler.add_dist(_RANDOM_SEED)
        return sampler

    def _run(
        self,
        tokens: list[int],
        sampler: Any,
        sampling: Sampling,
        result: Generation,
        stop_requested: Callable[[], bool],
    ) -> Iterator[str]:
        ctx, vocab, batch_one = self._ctx, self._vocab, self._cy.llama_batch_get_one
        limit = min(sampling.max_tokens, self.n_ctx - len(tokens))
        result.finish_reason = "length"
        if limit <= 0 or not tokens:
            return
        if not self._read_prompt(tokens, result, stop_requested):
            result.finish_reason = "stop"
            return
        # token_to_piece decodes each token's bytes alone (a split character becomes U+FFFD),
        # so the text is the whole answer detokenized, streamed by its new suffix.
        generated: list[int] = []
        emitted = ""
        held = 0
        while True:
            token = sampler.sample(ctx, -1)
            if vocab.is_eog(token):
                result.finish_reason = "stop"
                break
            generated.append(token)
            result.completion_tokens += 1
            text = vocab.detokenize(generated, 0, False, False)
            held = held + 1 if text.endswith("\ufffd") and held < _MAX_SPLIT else 0
            if not held and len(text) > len(emitted):
                yield text[len(emitted) :]
                emitted = text
            if result.completion_tokens >= limit:
                break
            if stop_requested():
                result.finish_reason = "stop"
                break
            ctx.decode(batch_one([token], len(self._in_context)))
            self._in_context.append(token)
        text = vocab.detokenize(generated, 0, False, False) if generated else ""
        if len(text) > len(emitted):
            yield text[len(emitted) :]

    def _read_prompt(
        self, tokens: list[int], result: Generation, stop_requested: Callable[[], bool]
    ) -> bool:
        """Decode the prompt past what the context already holds, in batches; False if a stop
        came first. Its last token is always decoded: its logits start the answer."""
        ctx = self._ctx
        kept = 0
        for held, wanted in zip(self._in_context, tokens[:-1], strict=False):
            if held != wanted:
                break
            kept += 1
        if not ctx.memory_seq_rm(0, kept, -1):
            ctx.kv_cache_clear()
            kept = 0
        del self._in_context[kept:]
        result.cached_tokens = kept
        step = min(PROMPT_BATCH, int(ctx.n_batch))
        for start in range(kept, len(tokens), step):
            if stop_requested():
                return False
            batch = tokens[start : start + step]
            ctx.decode(self._cy.llama_batch_get_one(batch, start))
            self._in_context.extend(batch)
        return True

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return str(self._vocab.token_to_piece(token, 0, True))
