"""Every object the server returns validates against OpenAI's published OpenAPI schema for it,
and carries every key that schema declares (null rather than absent), on both backends.

`GET /v1/threads` (our extension) is not covered: the spec has no schema for a list of threads.
"""

from __future__ import annotations

from typing import Any, Protocol

import openai
import pytest

from tests.contract.test_run_images import PNG
from tests.support.files import tool_resources, upload
from tests.support.openapi import assert_all_properties_present, assert_matches_schema

MODEL = "gpt-4o"
# Payload literals typed `Any`: the SDK's TypedDicts differ per endpoint and per SDK line.
FUNCTION_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class RawResponse(Protocol):
    """What `with_raw_response` returns on both SDK lines (1.109.1 and 3.x)."""

    @property
    def http_response(self) -> Any: ...  # httpx.Response (1.x) or httpx2.Response (3.x)


def body(raw: RawResponse) -> dict[str, Any]:
    data = raw.http_response.json()
    assert isinstance(data, dict), data
    return data


def assert_object(instance: dict[str, Any], schema_name: str) -> None:
    """Schema-valid and complete: the check for objects whose optional keys we always emit."""
    assert_matches_schema(instance, schema_name)
    assert_all_properties_present(instance, schema_name)


def new_thread(client: openai.OpenAI) -> str:
    return client.beta.threads.create().id


def new_message(client: openai.OpenAI, thread_id: str, text: str = "hello") -> str:
    return client.beta.threads.messages.create(thread_id, role="user", content=text).id


def test_assistant_with_every_field(client: openai.OpenAI) -> None:
    assistants = client.beta.assistants.with_raw_response
    created = body(
        assistants.create(
            model=MODEL,
            name="Weather bot",
            description="Answers weather questions.",
            instructions="Be brief.",
            tools=[{"type": "code_interpreter"}, {"type": "file_search"}, FUNCTION_TOOL],
            tool_resources=tool_resources(client),
            metadata={"team": "contract"},
            temperature=0.7,
            top_p=0.9,
            response_format={"type": "json_object"},
        )
    )
    assert [tool["type"] for tool in created["tools"]] == [
        "code_interpreter",
        "file_search",
        "function",
    ]
    assert_object(created, "AssistantObject")
    assert_object(body(assistants.retrieve(created["id"])), "AssistantObject")
    assert_object(body(assistants.update(created["id"], name="Renamed")), "AssistantObject")


def test_minimal_assistant(client: openai.OpenAI) -> None:
    created = body(client.beta.assistants.with_raw_response.create(model=MODEL))
    assert_object(created, "AssistantObject")


def test_assistant_list(client: openai.OpenAI) -> None:
    for name in ("first", "second", "third"):
        client.beta.assistants.create(model=MODEL, name=name)
    page = body(client.beta.assistants.with_raw_response.list(limit=2))
    assert len(page["data"]) == 2
    assert_matches_schema(page, "ListAssistantsResponse")
    for item in page["data"]:
        assert_all_properties_present(item, "AssistantObject")


def test_deleted_assistant(client: openai.OpenAI) -> None:
    assistant_id = client.beta.assistants.create(model=MODEL).id
    deleted = body(client.beta.assistants.with_raw_response.delete(assistant_id))
    assert_matches_schema(deleted, "DeleteAssistantResponse")


@pytest.mark.parametrize("with_resources", [False, True], ids=["plain", "tool_resources"])
def test_thread(client: openai.OpenAI, with_resources: bool) -> None:
    threads = client.beta.threads.with_raw_response
    extra: dict[str, Any] = {"tool_resources": tool_resources(client)} if with_resources else {}
    created = body(threads.create(**extra))
    assert_object(created, "ThreadObject")
    assert_object(body(threads.retrieve(created["id"])), "ThreadObject")
    assert_object(body(threads.update(created["id"], metadata={"k": "v"})), "ThreadObject")


def test_deleted_thread(client: openai.OpenAI) -> None:
    deleted = body(client.beta.threads.with_raw_response.delete(new_thread(client)))
    assert_matches_schema(deleted, "DeleteThreadResponse")


MESSAGE_BODIES: dict[str, dict[str, Any]] = {
    "string": {"content": "What is the weather in Paris?"},
    "parts": {
        "content": [
            {"type": "text", "text": "Describe these images."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image_file", "image_file": {"file_id": "<png>", "detail": "low"}},
        ]
    },
    "attachments": {
        "content": "Read the attached files.",
        "attachments": [
            {"file_id": "<csv>", "tools": [{"type": "code_interpreter"}]},
            {"file_id": "<txt>", "tools": [{"type": "file_search"}]},
        ],
    },
}


def with_uploads(value: Any, uploaded: dict[str, str]) -> Any:
    """`value` with every placeholder string (`"<csv>"`) replaced by its upload's file id."""
    if isinstance(value, dict):
        return {key: with_uploads(item, uploaded) for key, item in value.items()}
    if isinstance(value, list):
        return [with_uploads(item, uploaded) for item in value]
    return uploaded.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("fields", MESSAGE_BODIES.values(), ids=MESSAGE_BODIES.keys())
def test_message(client: openai.OpenAI, fields: dict[str, Any]) -> None:
    thread_id = new_thread(client)
    uploaded = {
        "<csv>": upload(client, "a.csv", b"a,b\n1,2\n"),
        "<txt>": upload(client, "notes.txt", b"Some notes."),
        "<png>": upload(client, "pixel.png", PNG),
    }
    fields = with_uploads(fields, uploaded)
    messages = client.beta.threads.messages.with_raw_response
    created = body(messages.create(thread_id, role="user", **fields))
    assert_object(created, "MessageObject")
    retrieved = body(messages.retrieve(created["id"], thread_id=thread_id))
    assert_object(retrieved, "MessageObject")
    updated = body(messages.update(created["id"], thread_id=thread_id, metadata={"k": "v"}))
    assert_object(updated, "MessageObject")


def test_message_list(client: openai.OpenAI) -> None:
    thread_id = new_thread(client)
    for text in ("one", "two", "three"):
        new_message(client, thread_id, text)
    page = body(client.beta.threads.messages.with_raw_response.list(thread_id, limit=2))
    assert len(page["data"]) == 2
    assert_matches_schema(page, "ListMessagesResponse")
    for item in page["data"]:
        assert_all_properties_present(item, "MessageObject")


def test_deleted_message(client: openai.OpenAI) -> None:
    thread_id = new_thread(client)
    message_id = new_message(client, thread_id)
    messages = client.beta.threads.messages.with_raw_response
    deleted = body(messages.delete(message_id, thread_id=thread_id))
    assert_matches_schema(deleted, "DeleteMessageResponse")


def test_error_body(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.beta.threads.retrieve("thread_doesnotexist")
    assert caught.value.status_code == 404
    assert_matches_schema(caught.value.response.json(), "ErrorResponse")


def test_run_and_step_objects(client: openai.OpenAI, model: Any) -> None:
    from tests.support.upstream import Text, ToolCalls

    assistant_id = client.beta.assistants.create(model=MODEL, tools=[FUNCTION_TOOL]).id
    thread_id = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]).id
    model.push(ToolCalls([("get_weather", '{"city": "Oslo"}')]), Text("Cold."))
    created = body(
        client.beta.threads.runs.with_raw_response.create(
            thread_id=thread_id, assistant_id=assistant_id
        )
    )
    assert_object(created, "RunObject")
    run = client.beta.threads.runs.poll(created["id"], thread_id=thread_id, poll_interval_ms=20)
    assert run.status == "requires_action"
    waiting = body(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread_id))
    assert_object(waiting, "RunObject")
    call_id = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread_id,
        tool_outputs=[{"tool_call_id": call_id, "output": "-5C"}],
        poll_interval_ms=20,
    )
    done = body(client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread_id))
    assert done["status"] == "completed"
    assert_object(done, "RunObject")
    runs = body(client.beta.threads.runs.with_raw_response.list(thread_id))
    assert_matches_schema(runs, "ListRunsResponse")
    steps = body(client.beta.threads.runs.steps.with_raw_response.list(run.id, thread_id=thread_id))
    assert_matches_schema(steps, "ListRunStepsResponse")
    assert [s["type"] for s in steps["data"]] == ["message_creation", "tool_calls"]
    for step in steps["data"]:
        assert_object(step, "RunStepObject")
    message = body(client.beta.threads.messages.with_raw_response.list(thread_id))["data"][0]
    assert_object(message, "MessageObject")
