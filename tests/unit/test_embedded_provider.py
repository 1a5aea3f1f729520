"""The embedded provider on the packaged SmolLM2 model: streaming, usage, grammar-shaped tool
calls, early stops, and its errors."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from assistantd.providers.base import ChatDelta, ChatRequest, ProviderError
from assistantd.providers.embedded import EmbeddedConfig, EmbeddedProvider
from assistantd.providers.embedded_turn import EmbeddedTurn, embedded_turn
from assistantd.providers.model_file import ModelFileMissing, packaged_gguf

try:
    packaged_gguf()
except ModelFileMissing:  # pragma: no cover - `make` installs it
    pytest.skip("the SmolLM2 GGUF is not installed (make model)", allow_module_level=True)

ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up the shipping status of an order by its id.",
            "parameters": ORDER,
        },
    }
]
QUESTION = [
    {"role": "system", "content": "You are a geography expert. Answer concisely."},
    {"role": "user", "content": "What is the capital of France?"},
]


def with_provider(body: Callable[[EmbeddedProvider], Awaitable[None]], **config: object) -> None:
    settings: dict[str, object] = {"model_path": None, "n_threads": 1, "n_ctx": 2048}
    settings["max_tokens"] = 48
    settings.update(config)

    async def main() -> None:
        provider = EmbeddedProvider(EmbeddedConfig(**settings))  # type: ignore[arg-type]
        try:
            await body(provider)
        finally:
            await provider.close()

    asyncio.run(main())


async def collect(stream: AsyncIterator[ChatDelta]) -> list[ChatDelta]:
    return [delta async for delta in stream]


def test_text_streams_with_llama_cpp_usage() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        deltas = await collect(provider.stream(ChatRequest(model="x", messages=QUESTION)))
        text = "".join(d.content for d in deltas)
        assert text.strip()
        assert sum(1 for d in deltas if d.content) > 1, "token by token, not all at once"
        last = deltas[-1]
        assert last.finish_reason in ("stop", "length")
        assert last.usage is not None
        assert last.usage.prompt_tokens > 10
        assert 0 < last.usage.completion_tokens <= 48

    with_provider(body)


def test_a_forced_call_has_arguments_valid_for_the_schema() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        request = ChatRequest(
            model="x",
            messages=[{"role": "user", "content": "Where is my order 42?"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_order_status"}},
            temperature=0,
            max_tokens=128,
        )
        deltas = await collect(provider.stream(request))
        assert "".join(d.content for d in deltas) == ""
        (call,) = [call for d in deltas for call in d.tool_calls]
        assert call.name == "get_order_status"
        assert Draft202012Validator(ORDER).is_valid(json.loads(call.arguments))
        assert deltas[-1].finish_reason == "tool_calls"
        assert deltas[-1].usage is not None

    with_provider(body)


def test_after_the_results_the_model_answers() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        call = {"name": "get_order_status", "arguments": '{"order_id": "42"}'}
        messages = [
            {"role": "user", "content": "Where is my order 42?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": call}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
        ]
        request = ChatRequest(
            model="x", messages=messages, tools=TOOLS, tool_choice="required", temperature=0
        )
        deltas = await collect(provider.stream(request))
        assert not [c for d in deltas for c in d.tool_calls]
        assert "".join(d.content for d in deltas).strip()

    with_provider(body, max_tokens=96)


def test_a_consumer_that_stops_early_frees_the_model() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        long = ChatRequest(
            model="x",
            messages=[{"role": "user", "content": "Write a long story about a lighthouse."}],
            max_tokens=400,
        )

        async def stop_after_first_delta() -> None:
            # As the run loop does on cancel: raise out of the `async for`, no aclose().
            async for _ in provider.stream(long):
                raise RuntimeError("cancelled")

        with pytest.raises(RuntimeError, match="cancelled"):
            await stop_after_first_delta()
        started = time.perf_counter()
        deltas = await collect(provider.stream(ChatRequest(model="x", messages=QUESTION)))
        assert deltas[-1].usage is not None
        # 400 tokens would take ~10 s: the abandoned generation stopped at once.
        assert time.perf_counter() - started < 5

    with_provider(body, max_tokens=400)


def test_a_conversation_too_long_for_the_context_fails_clearly() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        words = " ".join(["lighthouse"] * 1200)
        request = ChatRequest(model="x", messages=[{"role": "user", "content": words}])
        with pytest.raises(ProviderError) as caught:
            await collect(provider.stream(request))
        assert caught.value.code == "invalid_prompt"
        assert "does not fit the embedded model's context of 512 tokens" in caught.value.message

    with_provider(body, n_ctx=512)


def test_older_history_is_dropped_when_the_model_counts_more_tokens() -> None:
    async def body(provider: EmbeddedProvider) -> None:
        old = " ".join(["harbour"] * 300)
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": old},
            {"role": "assistant", "content": old},
            {"role": "user", "content": "Say hello."},
        ]
        deltas = await collect(provider.stream(ChatRequest(model="x", messages=messages)))
        assert deltas[-1].usage is not None
        assert deltas[-1].usage.prompt_tokens + 16 <= 512

    with_provider(body, n_ctx=512, max_tokens=16)


def test_a_missing_model_file_is_a_clear_provider_error(tmp_path: Path) -> None:
    async def body(provider: EmbeddedProvider) -> None:
        with pytest.raises(ProviderError) as caught:
            await collect(provider.stream(ChatRequest(model="x", messages=QUESTION)))
        assert caught.value.code == "server_error"
        assert not caught.value.retryable
        assert "ASSISTANTD_EMBEDDED_MODEL_PATH: no file at" in caught.value.message

    with_provider(body, model_path=tmp_path / "missing.gguf")


def test_a_grammar_llama_cpp_rejects_is_a_provider_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistantd.providers.embedded as embedded

    turns: list[EmbeddedTurn] = []

    def broken_grammar(request: ChatRequest, *args: Any) -> EmbeddedTurn:
        turn = embedded_turn(request, *args)
        if not turns:  # the first turn only
            turn = dataclasses.replace(turn, grammar='root ::= "a" | missing-rule')
        turns.append(turn)
        return turn

    monkeypatch.setattr(embedded, "embedded_turn", broken_grammar)

    async def body(provider: EmbeddedProvider) -> None:
        with pytest.raises(ProviderError) as caught:
            await collect(provider.stream(ChatRequest(model="x", messages=QUESTION)))
        assert caught.value.code == "server_error"
        assert not caught.value.retryable
        assert "llama.cpp rejected the grammar" in caught.value.message
        # The process and the model survived: the next turn is answered.
        deltas = await collect(provider.stream(ChatRequest(model="x", messages=QUESTION)))
        assert deltas[-1].usage is not None

    with_provider(body)
