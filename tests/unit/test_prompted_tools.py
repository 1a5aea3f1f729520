"""The prompted-JSON fallback for upstreams without tool calling, against a fake upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistantd.providers.base import ChatDelta, ChatRequest, ProviderError, Usage
from assistantd.providers.prompted_tools import PromptedToolsProvider

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


class FakeUpstream:
    """Answers each request with the next scripted text, in small chunks."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        self.requests.append(request)
        text = self.replies.pop(0)
        for i in range(0, len(text), 5):
            yield ChatDelta(content=text[i : i + 5])
        yield ChatDelta(finish_reason="stop", usage=Usage(10, 3))

    async def close(self) -> None:
        pass


def run(provider: PromptedToolsProvider, request: ChatRequest) -> list[ChatDelta]:
    async def collect() -> list[ChatDelta]:
        return [delta async for delta in provider.stream(request)]

    return asyncio.run(collect())


def turn(tool_choice: Any = "auto", tools: list[dict[str, Any]] | None = TOOLS) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[{"role": "user", "content": "Where is order 42?"}],
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=True,
    )


def test_a_json_call_becomes_a_tool_call_delta() -> None:
    upstream = FakeUpstream(
        '{"type": "tool_call", "name": "get_order", "arguments": {"order_id": "42"}}'
    )
    deltas = run(PromptedToolsProvider(upstream, json_mode=True), turn())
    assert "".join(d.content for d in deltas) == ""
    calls = [call for d in deltas for call in d.tool_calls]
    assert len(calls) == 1
    assert calls[0].name == "get_order"
    assert json.loads(calls[0].arguments) == {"order_id": "42"}
    assert deltas[-1].finish_reason == "tool_calls"
    assert deltas[-1].usage == Usage(10, 3)
    sent = upstream.requests[0]
    assert sent.tools is None
    assert sent.tool_choice is None
    assert sent.parallel_tool_calls is None
    assert sent.response_format == {"type": "json_object"}
    assert "get_order" in sent.messages[0]["content"]
    assert sent.messages[0]["role"] == "system"


def test_a_json_message_streams_its_text() -> None:
    upstream = FakeUpstream('{"type": "message", "content": "It shipped yesterday."}')
    deltas = run(PromptedToolsProvider(upstream, json_mode=False), turn())
    assert "".join(d.content for d in deltas) == "It shipped yesterday."
    assert sum(1 for d in deltas if d.content) > 1
    assert deltas[-1].finish_reason == "stop"
    assert upstream.requests[0].response_format is None


def test_an_invalid_reply_is_retried_once_with_the_error() -> None:
    upstream = FakeUpstream(
        '{"type": "tool_call", "name": "get_order", "arguments": {}}',
        '{"type": "tool_call", "name": "get_order", "arguments": {"order_id": "7"}}',
    )
    deltas = run(PromptedToolsProvider(upstream, json_mode=True), turn())
    calls = [call for d in deltas for call in d.tool_calls]
    assert json.loads(calls[0].arguments) == {"order_id": "7"}
    assert deltas[-1].usage == Usage(20, 6)  # both attempts
    retry = upstream.requests[1].messages
    assert retry[-2]["role"] == "assistant"
    assert "'order_id' is a required property" in retry[-1]["content"]


def test_two_invalid_replies_fail_clearly() -> None:
    upstream = FakeUpstream("Sure! Order 42 is fine.", '{"type": "tool_call", "name": "x"}')
    with pytest.raises(ProviderError) as caught:
        run(PromptedToolsProvider(upstream, json_mode=True), turn())
    assert caught.value.code == "invalid_prompt"
    assert not caught.value.retryable
    assert "did not answer with a valid tool call" in caught.value.message
    assert "must be one of ['get_order']" in caught.value.message


def test_without_tools_the_request_passes_through() -> None:
    upstream = FakeUpstream("plain answer")
    deltas = run(PromptedToolsProvider(upstream, json_mode=True), turn("none"))
    assert "".join(d.content for d in deltas) == "plain answer"
    assert upstream.requests[0].tools is None
    assert upstream.requests[0].response_format is None
