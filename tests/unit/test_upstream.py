"""The scripted model server, driven through the real (sync) openai SDK."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.support.upstream import (
    MODEL_ID,
    CutStream,
    Hang,
    HttpError,
    Malformed,
    ScriptedUpstream,
    Text,
    ToolCalls,
)

# 20 characters: 6 prompt tokens
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: ScriptedUpstream) -> Iterator[ScriptedUpstream]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def client(server: ScriptedUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk:
        yield sdk


def stream_chunks(client: openai.OpenAI, **extra: Any) -> list[ChatCompletionChunk]:
    stream = client.chat.completions.create(model="gpt-test", messages=USER, stream=True, **extra)
    return list(stream)


def collect(stream: openai.Stream[ChatCompletionChunk], into: list[ChatCompletionChunk]) -> None:
    """Append chunks as they arrive, so that they survive an exception mid-stream."""
    for chunk in stream:
        into.append(chunk)


def ask(client: openai.OpenAI) -> str | None:
    return client.chat.completions.create(model="m", messages=USER).choices[0].message.content


def test_listens_on_loopback_only(upstream: ScriptedUpstream) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", upstream.base_url)


def test_streamed_text_with_usage(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(Text("Sunny, 21 degrees.", chunk_size=5))
    chunks = stream_chunks(client, stream_options={"include_usage": True})

    *answer, last = chunks
    assert [c.choices[0].delta.content for c in answer] == [
        "",
        "Sunny",
        ", 21 ",
        "degre",
        "es.",
        None,
    ]
    assert answer[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in answer] == [None] * 5 + ["stop"]
    assert all(c.usage is None for c in answer)
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (6, 5)
    assert last.usage.total_tokens == 11
    assert {c.id for c in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"gpt-test"}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}


def test_stream_without_include_usage_has_no_usage_chunk(
    upstream: ScriptedUpstream, client: openai.OpenAI
) -> None:
    upstream.push(Text("abcdef", usage=(100, 7)))
    chunks = stream_chunks(client)
    assert [c.choices[0].delta.content for c in chunks] == ["", "abcd", "ef", None]
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)


def test_scripted_usage_and_finish_reason(
    upstream: ScriptedUpstream, client: openai.OpenAI
) -> None:
    upstream.push(Text("cut short", finish_reason="length", usage=(100, 7)))
    chunks = stream_chunks(client, stream_options={"include_usage": True})
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 7, 107)


def test_non_streamed_text(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(Text("Sunny, 21 degrees."))
    completion = client.chat.completions.create(model="gpt-test", messages=USER)

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-test"
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Sunny, 21 degrees."
    assert choice.message.tool_calls is None
    assert choice.message.refusal is None
    assert completion.usage is not None
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 5, 11)


def test_prompt_tokens_count_text_parts(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "12345678"},
        {"role": "user", "content": [{"type": "text", "text": "1234"}]},
    ]
    completion = client.chat.completions.create(model="gpt-test", messages=messages)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 12 // 4 + 1


def test_streamed_parallel_tool_calls(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    weather = '{"city": "Paris", "unit": "celsius"}'
    upstream.push(ToolCalls([("get_weather", weather), ("get_time", "{}")]))
    chunks = stream_chunks(client)

    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            assert delta.function is not None
            if delta.id is not None:
                assert call["id"] == "", "the id comes once, in the call's first chunk"
                assert delta.type == "function"
                call["id"] = delta.id
                call["name"] = delta.function.name or ""
            else:
                assert delta.function.name is None
            call["arguments"] += delta.function.arguments or ""

    assert sorted(calls) == [0, 1]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert [calls[i]["arguments"] for i in (0, 1)] == [weather, "{}"]
    first, second = (int(calls[i]["id"].removeprefix("call_")) for i in (0, 1))
    assert calls[0]["id"] == f"call_{first}"
    assert second == first + 1
    fragments = [
        d.function.arguments
        for c in chunks
        for d in c.choices[0].delta.tool_calls or []
        if d.index == 0 and d.id is None and d.function is not None
    ]
    assert fragments == [weather[i : i + 8] for i in range(0, len(weather), 8)]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices[0].delta.tool_calls is None


def test_non_streamed_tool_calls(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(ToolCalls([("a", '{"x": 1}'), ("b", "{}")], content="Let me check."))
    upstream.push(ToolCalls([("c", "{}")]))
    first = client.chat.completions.create(model="gpt-test", messages=USER).choices[0]
    second = client.chat.completions.create(model="gpt-test", messages=USER).choices[0]

    assert first.finish_reason == "tool_calls"
    assert first.message.content == "Let me check."
    assert second.message.content is None
    calls = [*(first.message.tool_calls or []), *(second.message.tool_calls or [])]
    assert [(c.type, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("function", "a", '{"x": 1}'),
        ("function", "b", "{}"),
        ("function", "c", "{}"),
    ]
    numbers = [int(c.id.removeprefix("call_")) for c in calls]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2], "unique across requests"


def test_rate_limit_error(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(HttpError(429, "slow down", retry_after=2))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-test", messages=USER)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.body == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert len(upstream.requests) == 1, "recorded even though the reply is an error"


def test_server_error(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(HttpError(500))
    with pytest.raises(openai.InternalServerError) as info:
        stream_chunks(client)
    assert info.value.status_code == 500
    assert "retry-after" not in info.value.response.headers
    assert info.value.body == {
        "message": "scripted failure",
        "type": "server_error",
        "param": None,
        "code": None,
    }


def test_cut_stream_raises_connection_error(
    upstream: ScriptedUpstream, client: openai.OpenAI
) -> None:
    upstream.push(CutStream("partial text", after_chunks=2))
    received: list[ChatCompletionChunk] = []
    stream = client.chat.completions.create(model="gpt-test", messages=USER, stream=True)
    with pytest.raises(openai.APIConnectionError) as info:
        collect(stream, received)
    assert [c.choices[0].delta.content for c in received] == ["", "part", "ial "]
    assert [c.choices[0].finish_reason for c in received] == [None] * 3, "no finish chunk"
    # The SDK (3.x) wraps its HTTP library's error (`httpx2` there, not `httpx`).
    cause = info.value.__cause__
    assert type(cause).__name__ == "RemoteProtocolError"
    assert "incomplete chunked read" in str(cause)


def test_cut_stream_as_seen_on_the_wire(upstream: ScriptedUpstream) -> None:
    upstream.push(CutStream())
    body = {"model": "m", "messages": USER, "stream": True}
    lines: list[str] = []
    with (
        httpx.stream("POST", f"{upstream.base_url}/chat/completions", json=body) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        lines.extend(line for line in response.iter_lines() if line)
    assert response.status_code == 200
    assert [json.loads(line.removeprefix("data: "))["choices"][0]["delta"] for line in lines] == [
        {"role": "assistant", "content": ""},
        {"content": "part"},
    ]


def test_malformed_stream_raises_json_decode_error(
    upstream: ScriptedUpstream, client: openai.OpenAI
) -> None:
    upstream.push(Malformed())
    stream = client.chat.completions.create(model="gpt-test", messages=USER, stream=True)
    received: list[ChatCompletionChunk] = []
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):
        collect(stream, received)
    assert received == []


def test_malformed_stream_on_the_wire(upstream: ScriptedUpstream) -> None:
    upstream.push(Malformed())
    body = {"model": "m", "messages": USER, "stream": True}
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.text == "data: {not json\n\ndata: [DONE]\n\n"


def test_hang_times_the_client_out(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(Hang(5))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-test", messages=USER, timeout=0.2)
    assert time.monotonic() - started < 2


def test_delay_postpones_the_response(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(Text("late", delay=0.3), Text("late", delay=0.3))
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-test", messages=USER, timeout=0.1)
    started = time.monotonic()
    stream_chunks(client)
    assert time.monotonic() - started >= 0.3


def test_records_request_bodies(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    client.chat.completions.create(model="gpt-test", messages=USER, tools=tools, temperature=0.5)
    stream_chunks(client, stream_options={"include_usage": True})

    assert upstream.requests == [
        {"model": "gpt-test", "messages": USER, "tools": tools, "temperature": 0.5},
        {
            "model": "gpt-test",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ]


def test_replies_are_fifo_then_default(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    upstream.push(Text("one"))
    upstream.push(Text("two"), Text("three"))

    assert [ask(client) for _ in range(5)] == ["one", "two", "three", "ok", "ok"]
    upstream.default_reply = Text("fallback")
    try:
        assert ask(client) == "fallback"
    finally:
        del upstream.default_reply  # back to the class default
    assert ask(client) == "ok"


def test_reset_forgets_queue_and_requests(
    upstream: ScriptedUpstream, client: openai.OpenAI
) -> None:
    client.chat.completions.create(model="m", messages=USER)
    upstream.push(Text("queued"))
    upstream.reset()
    assert upstream.requests == []
    assert ask(client) == "ok"


def test_wait_for_requests(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=USER)
    upstream.wait_for_requests(1, timeout=0.1)
    with pytest.raises(TimeoutError, match="1 of 2 requests"):
        upstream.wait_for_requests(2, timeout=0.1)


def test_models(upstream: ScriptedUpstream, client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [(m.id, m.object, m.created, m.owned_by) for m in models] == [
        (MODEL_ID, "model", 0, "tests")
    ]
    assert upstream.requests == [], "only chat completions are recorded"


def test_non_streamed_wire_format(upstream: ScriptedUpstream) -> None:
    upstream.push(ToolCalls([("f", '{"a": 1}')]))
    body = {"model": "m", "messages": USER}
    reply = httpx.post(f"{upstream.base_url}/chat/completions", json=body).json()
    assert isinstance(reply.pop("created"), int)
    assert re.fullmatch(r"chatcmpl-\d+", reply.pop("id"))
    call_id = reply["choices"][0]["message"]["tool_calls"][0].pop("id")
    assert re.fullmatch(r"call_\d+", call_id)
    assert reply == {
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {"type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9},
    }


def test_streamed_wire_format(upstream: ScriptedUpstream) -> None:
    upstream.push(Text("abcde"))
    body = {
        "model": "m",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    headers = {(c.pop("id"), c.pop("object"), c.pop("model")) for c in chunks}
    [(completion_id, kind, model)] = headers  # the same in every chunk
    assert re.fullmatch(r"chatcmpl-\d+", completion_id)
    assert (kind, model) == ("chat.completion.chunk", "m")
    assert {type(c.pop("created")) for c in chunks} == {int}

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        item = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"choices": [item], "usage": None}

    assert chunks == [
        choice({"role": "assistant", "content": ""}),
        choice({"content": "abcd"}),
        choice({"content": "e"}),
        choice({}, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}},
    ]


def test_rejects_a_body_that_is_not_json(upstream: ScriptedUpstream) -> None:
    response = httpx.post(f"{upstream.base_url}/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_stop_ends_a_hanging_reply_with_503() -> None:
    upstream = ScriptedUpstream().start()
    upstream.push(Hang(30))
    outcome: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(base_url=upstream.base_url, api_key="x", max_retries=0) as sdk:
            try:
                ask(sdk)
            except openai.APIError as exc:
                outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    upstream.wait_for_requests(1, timeout=5)
    started = time.monotonic()
    upstream.stop()
    caller.join(5)
    assert time.monotonic() - started < 1
    [error] = outcome
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == 503
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{upstream.base_url}/models")
