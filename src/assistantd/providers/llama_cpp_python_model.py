"""The embedded model on llama-cpp-python, the optional runtime compiled from source (the
`llama-cpp-python` extra) for CPUs that cyllama's prebuilt wheel does not support."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistantd.providers.chat_template import ChatTemplate
from assistantd.providers.llama_model import Generation, GrammarError, ModelLoadError, Sampling


class LlamaCppPythonModel:
    """Implements `LlamaModel`: one loaded GGUF model with its context (KV cache)."""

    def __init__(self, llm: Any, path: Path) -> None:
        import llama_cpp

        self.path = path
        self._llm = llm
        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._template = ChatTemplate(
            llm.metadata.get("tokenizer.chat_template"),
            bos_token=self._token_text(llm.token_bos()),
            eos_token=self._token_text(llm.token_eos()),
        )

    @classmethod
    def load(cls, path: Path, *, n_ctx: int, n_threads: int) -> LlamaCppPythonModel:
        from llama_cpp import Llama

        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from exc
        return cls(llm, path)

    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    def chat_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        prompt = self._template.render(messages)
        add_bos = not (self._template.bos_token and prompt.startswith(self._template.bos_token))
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True))

    def generate(
        self,
        tokens: Sequence[int],
        sampling: Sampling,
        grammar: str | None,
        result: Generation,
        stop_requested: Callable[[], bool],
    ) -> Iterator[str]:
        from llama_cpp.llama_grammar import LlamaGrammar

        compiled = None
        if grammar:
            self._check(grammar)
            compiled = LlamaGrammar.from_string(grammar, verbose=False)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        limit = min(sampling.max_tokens, self.n_ctx - len(tokens))
        result.finish_reason = "length"
        if limit > 0:
            for token in self._llm.generate(
                tokens,
                temp=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repeat_penalty,
                frequency_penalty=sampling.frequency_penalty,
                presence_penalty=sampling.presence_penalty,
                grammar=compiled,
            ):
                if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    result.finish_reason = "stop"
                    break
                result.completion_tokens += 1
                text = decoder.decode(self._llm.detokenize([token]))
                if text:
                    yield text
                if result.completion_tokens >= limit:
                    break
                if stop_requested():
                    result.finish_reason = "stop"
                    break
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def close(self) -> None:
        self._llm.close()

    def _check(self, grammar: str) -> None:
        """llama.cpp parses the grammar here; a sampler chain would take the null it returns
        for a bad one and sample unconstrained, or crash."""
        probe = self._llama_cpp.llama_sampler_init_grammar(
            self._vocab, grammar.encode("utf-8"), b"root"
        )
        if not probe:
            raise GrammarError("llama.cpp rejected the grammar (its parse error is on stderr)")
        self._llama_cpp.llama_sampler_free(probe)

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", "replace")
