"""`null` for a nullable override of run create and create-and-run means "not given": the run
keeps the assistant's value (or the default), and the model still gets the assistant's
instructions as its system message. (One widely used framework sends `instructions: null` on
every run.)"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.raw import http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream

INSTRUCTIONS = "Answer as the assistant was told to."
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    },
}
ASSISTANT = {
    "model": "gpt-4o",
    "instructions": INSTRUCTIONS,
    "tools": [WEATHER],
    "temperature": 0.3,
    "top_p": 0.8,
    "response_format": {"type": "json_object"},
    "reasoning_effort": "low",
}
# What a run of that assistant shows when the request overrides nothing.
EXPECTED_RUN = {
    "status": "completed",
    "model": "gpt-4o",
    "instructions": INSTRUCTIONS,
    "tools": [WEATHER],
    "metadata": {},
    "temperature": 0.3,
    "top_p": 0.8,
    "max_prompt_tokens": None,
    "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": {"type": "json_object"},
}
# The nullable fields of CreateRunRequest and CreateThreadAndRunRequest.
SHARED = [
    "model",
    "instructions",
    "tools",
    "metadata",
    "temperature",
    "top_p",
    "stream",
    "max_prompt_tokens",
    "max_completion_tokens",
    "truncation_strategy",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
]
RUN_ONLY = ["additional_instructions", "additional_messages", "reasoning_effort"]
THREAD_AND_RUN_ONLY = ["tool_resources", "thread", "thread.metadata", "thread.tool_resources"]
QUESTION = "What is the weather like?"


def nulls(*names: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in names:
        if name.startswith("thread."):
            body.setdefault("thread", {"messages": [{"role": "user", "content": QUESTION}]})
            body["thread"][name.removeprefix("thread.")] = None
        else:
            body[name] = None
    return body


def wait_done(api: Any, thread_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"threads/{thread_id}/runs/{run_id}").json()
        if run["status"] not in ("queued", "in_progress"):
            return run
        time.sleep(0.02)
    raise AssertionError("the run did not finish")


def check(run: dict[str, Any], model: ScriptedUpstream) -> None:
    assert {key: run[key] for key in EXPECTED_RUN} == EXPECTED_RUN
    (request,) = model.requests
    assert request["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    assert request["model"] == "gpt-4o"
    assert (request["temperature"], request["top_p"]) == (0.3, 0.8)
    assert request["response_format"] == {"type": "json_object"}
    assert request["reasoning_effort"] == "low"
    assert [t["function"]["name"] for t in request["tools"]] == ["get_weather"]
    assert "max_tokens" not in request
    assert request.get("tool_choice", "auto") == "auto"


def assistant_id(server: ServerProcess) -> str:
    with http(server) as api:
        created = api.post("assistants", json=ASSISTANT)
        assert created.status_code == 200, created.text
        return str(created.json()["id"])


@pytest.mark.parametrize("field", [*SHARED, *RUN_ONLY])
def test_null_on_run_create_means_not_given(
    server: ServerProcess, model: ScriptedUpstream, field: str
) -> None:
    with http(server) as api:
        thread = api.post("threads", json={"messages": [{"role": "user", "content": QUESTION}]})
        thread_id = thread.json()["id"]
        body = {"assistant_id": assistant_id(server), **nulls(field)}
        created = api.post(f"threads/{thread_id}/runs", json=body)
        assert created.status_code == 200, created.text
        assert created.headers["content-type"].startswith("application/json")
        run = wait_done(api, thread_id, created.json()["id"])
        check(run, model)
        (request,) = model.requests
        assert request["messages"][1:] == [{"role": "user", "content": QUESTION}]
        listed = api.get(f"threads/{thread_id}/messages", params={"order": "asc"}).json()["data"]
        assert [m["role"] for m in listed] == ["user", "assistant"]


@pytest.mark.parametrize("field", [*SHARED, *THREAD_AND_RUN_ONLY])
def test_null_on_create_and_run_means_not_given(
    server: ServerProcess, model: ScriptedUpstream, field: str
) -> None:
    with http(server) as api:
        body: dict[str, Any] = {
            "assistant_id": assistant_id(server),
            "thread": {"messages": [{"role": "user", "content": QUESTION}]},
        }
        body.update(nulls(field))
        created = api.post("threads/runs", json=body)
        assert created.status_code == 200, created.text
        run = wait_done(api, created.json()["thread_id"], created.json()["id"])
        check(run, model)
        (request,) = model.requests
        asked = [] if field == "thread" else [{"role": "user", "content": QUESTION}]
        assert request["messages"][1:] == asked
        thread = api.get(f"threads/{run['thread_id']}").json()
        assert thread["metadata"] == {}


def test_every_override_null_at_once(server: ServerProcess, model: ScriptedUpstream) -> None:
    with http(server) as api:
        thread = api.post("threads", json={"messages": [{"role": "user", "content": QUESTION}]})
        thread_id = thread.json()["id"]
        body = {"assistant_id": assistant_id(server), **nulls(*SHARED, *RUN_ONLY)}
        created = api.post(f"threads/{thread_id}/runs", json=body)
        assert created.status_code == 200, created.text
        check(wait_done(api, thread_id, created.json()["id"]), model)


def test_an_empty_instructions_string_still_overrides(
    server: ServerProcess, model: ScriptedUpstream
) -> None:
    """Only null means "not given": an empty string replaces the assistant's instructions."""
    with http(server) as api:
        thread = api.post("threads", json={"messages": [{"role": "user", "content": QUESTION}]})
        thread_id = thread.json()["id"]
        body = {"assistant_id": assistant_id(server), "instructions": ""}
        created = api.post(f"threads/{thread_id}/runs", json=body)
        run = wait_done(api, thread_id, created.json()["id"])
        assert run["instructions"] == ""
        (request,) = model.requests
        assert [m["role"] for m in request["messages"]] == ["user"]
