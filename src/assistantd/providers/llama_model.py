"""The embedded model on llama.cpp: load a GGUF, render a chat with the model's own template,
and generate tokens, optionally under a grammar. Synchronous and single-threaded by contract:
the provider calls it from one worker thread, one generation at a time."""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

log = logging.getLogger("assistantd.embedded")

# For GGUF files without a template: ChatML, which SmolLM2 and many small models use.
_CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelLoadError(Exception):
    """llama.cpp could not load the GGUF file."""


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_tokens: int
    repeat_penalty: float = 1.0


@dataclass
class Generation:
    """How a generation ended; filled in as it runs."""

    completion_tokens: int = 0
    finish_reason: str = "stop"


class LlamaModel:
    """One loaded GGUF model with its context (KV cache)."""

    def __init__(self, llm: Any, path: Path) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.path = path
        self._llm = llm
        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        template = llm.metadata.get("tokenizer.chat_template") or _CHATML
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(llm.token_eos()),
            bos_token=self._token_text(llm.token_bos()),
            add_generation_prompt=True,
        )

    @classmethod
    def load(cls, path: Path, *, n_ctx: int, n_threads: int) -> LlamaModel:
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
        """The prompt tokens of a conversation (role and string content per message), ending
        where the assistant's answer starts."""
        rendered = self._formatter(messages=cast(Any, list(messages)))
        tokens = self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return list(tokens)

    def generate(
        self,
        tokens: Sequence[int],
        sampling: Sampling,
        grammar: str | None,
        result: Generation,
        stop_requested: Callable[[], bool],
    ) -> Iterator[str]:
        """Yield the answer's text as tokens are sampled; `result` tells how it ended."""
        from llama_cpp.llama_grammar import LlamaGrammar

        compiled = LlamaGrammar.from_string(grammar, verbose=False) if grammar else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        room = self.n_ctx - len(tokens)
        limit = min(sampling.max_tokens, room)
        result.finish_reason = "length"
        if limit > 0:
            for token in self._llm.generate(
                tokens,
                temp=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repeat_penalty,
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

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self._llm.detokenize([token], special=True)).decode("utf-8", "replace")
