"""Runs through the real SDK: lifecycle, function calling, the thread lock, cancel, options."""

from __future__ import annotations

import json
import threading

import openai
import pytest

from tests.support.raw import error_of, http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
POLL = {"poll_interval_ms": 20}


def new_assistant(client: openai.OpenAI, **extra: object) -> str:
    body: dict[str, object] = {"model": "gpt-4o", "instructions": "Be brief."}
    body.update(extra)
    return client.beta.assistants.create(**body).id  # type: ignore[arg-type]


def test_create_and_poll_completes(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER], temperature=0.3)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    model.push(Text("Paris.", usage=(21, 3)))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, metadata={"k": "v"}, **POLL
    )
    assert run.status == "completed"
    assert run.id.startswith("run_")
    assert run.object == "thread.run"
    assert run.thread_id == thread.id
    assert run.assistant_id == assistant_id
    assert run.model == "gpt-4o"
    assert run.instructions == "Be brief."
    assert run.temperature == 0.3
    assert run.metadata == {"k": "v"}
    assert [t.type for t in run.tools] == ["function"]
    assert run.usage is not None
    assert (run.usage.prompt_tokens, run.usage.completion_tokens, run.usage.total_tokens) == (
        21,
        3,
        24,
    )
    assert run.started_at is not None
    assert run.completed_at is not None
    assert run.created_at <= run.started_at <= run.completed_at
    assert run.expires_at is None, "a terminal run has no deadline"
    assert run.last_error is None
    assert run.required_action is None
    assert run.truncation_strategy is not None
    assert run.truncation_strategy.type == "auto"
    assert run.tool_choice == "auto"
    assert run.parallel_tool_calls is True

    newest = client.beta.threads.messages.list(thread.id).data[0]
    assert newest.role == "assistant"
    assert newest.run_id == run.id
    assert newest.assistant_id == assistant_id
    assert newest.status == "completed"
    assert newest.content[0].text.value == "Paris."  # type: ignore[union-attr]
    only_this_run = client.beta.threads.messages.list(thread.id, run_id=run.id).data
    assert [m.id for m in only_this_run] == [newest.id]

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert len(steps) == 1
    step = steps[0]
    assert (step.type, step.status) == ("message_creation", "completed")
    assert step.step_details.message_creation.message_id == newest.id  # type: ignore[union-attr]
    assert step.usage is not None
    assert step.usage.total_tokens == 24
    fetched = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id)
    assert fetched.model_dump() == step.model_dump()

    sent = model.requests[-1]
    assert sent["model"] == "gpt-4o"
    assert sent["stream"] is True
    assert sent["temperature"] == 0.3
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert sent["tools"] == [
        {"type": "function", "function": {**WEATHER["function"], "strict": False}}  # type: ignore[dict-item]
    ]


def test_retrieve_sends_the_poll_hint(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=new_assistant(client), **POLL
    )
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.headers["openai-poll-after-ms"] == "25"
    assert client.beta.threads.runs.list(thread.id).data[0].id == run.id


def test_create_and_run_poll_makes_the_thread(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(Text("Bonjour."))
    run = client.beta.threads.create_and_run_poll(
        assistant_id=new_assistant(client),
        thread={
            "messages": [{"role": "user", "content": "Say hello in French"}],
            "metadata": {"u": "1"},
        },
        **POLL,
    )
    assert run.status == "completed"
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.metadata == {"u": "1"}
    texts = [
        m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")
    ]  # type: ignore[union-attr]
    assert texts == ["Say hello in French", "Bonjour."]


def test_run_overrides_reach_the_model(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        model="gpt-4o-mini",
        instructions="Replace.",
        additional_instructions="Also this.",
        additional_messages=[{"role": "user", "content": "second"}],
        tools=[TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
        top_p=0.5,
        response_format={"type": "json_object"},
        **POLL,
    )
    assert run.model == "gpt-4o-mini"
    assert run.instructions == "Replace.\n\nAlso this."
    assert run.parallel_tool_calls is False
    sent = model.requests[-1]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"][0] == {"role": "system", "content": "Replace.\n\nAlso this."}
    assert [m["content"] for m in sent["messages"][1:]] == ["first", "second"]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_time"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["top_p"] == 0.5
    assert sent["response_format"] == {"type": "json_object"}


def test_function_call_round_trip(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER, TIME])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather and time?"}])
    model.push(
        ToolCalls([("get_weather", '{"city": "Paris"}'), ("get_time", "{}")], usage=(30, 10)),
        Text("Sunny, noon.", usage=(50, 4)),
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "requires_action"
    assert run.usage is None, "usage is reported once the run is terminal"
    assert run.expires_at is not None
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {}),
    ]
    assert all(c.id.startswith("call_") for c in calls)
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.threads.messages.create(thread.id, role="user", content="hurry")
    assert info.value.body["message"] == (  # type: ignore[index]
        f"Can't add messages to {thread.id} while a run {run.id} is active."
    )
    with pytest.raises(openai.BadRequestError) as partial:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )
    assert partial.value.param == "tool_outputs"
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread.id,
            tool_outputs=[
                {"tool_call_id": calls[0].id, "output": "x"},
                {"tool_call_id": "call_unknown", "output": "y"},
            ],
        )
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[
            {"tool_call_id": calls[0].id, "output": '{"sky": "sunny"}'},
            {"tool_call_id": calls[1].id, "output": "12:00"},
        ],
        **POLL,
    )
    assert done.status == "completed"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (80, 14), "summed over turns"
    with pytest.raises(openai.BadRequestError):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    tool_calls = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert [(c.id, c.function.output) for c in tool_calls] == [  # type: ignore[union-attr]
        (calls[0].id, '{"sky": "sunny"}'),
        (calls[1].id, "12:00"),
    ]
    second = model.requests[-1]["messages"]
    assert second[-3]["tool_calls"][0]["id"] == calls[0].id
    assert second[-2:] == [
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"sky": "sunny"}'},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "12:00"},
    ]


def test_invalid_tool_arguments_go_back_to_the_model(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    model.push(
        ToolCalls([("get_weather", '{"city": Paris}')]),
        ToolCalls([("no_such_function", "{}")]),
        Text("Sorry, I could not check."),
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    first_output = steps[0].step_details.tool_calls[0].function.output  # type: ignore[union-attr]
    assert first_output.startswith("error: the arguments are not valid JSON")
    second_output = steps[1].step_details.tool_calls[0].function.output  # type: ignore[union-attr]
    assert second_output == "error: there is no function named 'no_such_function'"
    assert model.requests[-1]["messages"][-1]["content"] == second_output


def test_thread_lock_and_cancel_in_progress(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    assistant_id = new_assistant(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Tell me a story"}])
    model.push(Text("Once upon a time " * 40, chunk_size=3, chunk_delay=0.02))
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    assert run.status == "queued"
    model.wait_for_requests(1)
    with pytest.raises(openai.BadRequestError) as locked:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id)
    assert locked.value.body["message"] == (  # type: ignore[index]
        f"Thread {thread.id} already has an active run {run.id}."
    )
    _wait_for_message(client, thread.id, run.id)
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    final = client.beta.threads.runs.poll(run.id, thread_id=thread.id, **POLL)
    assert final.status == "cancelled"
    assert final.cancelled_at is not None
    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_cancelled"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled"
    with pytest.raises(openai.BadRequestError) as again:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert again.value.body["message"] == "Cannot cancel run with status 'cancelled'."  # type: ignore[index]
    client.beta.threads.messages.create(thread.id, role="user", content="unlocked again")


def test_cancel_while_waiting_for_outputs(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    model.push(ToolCalls([("get_weather", '{"city": "Oslo"}')]))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "requires_action"
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled"
    assert cancelled.required_action is None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert (step.type, step.status) == ("tool_calls", "cancelled")


def test_truncation_last_messages(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"message {i}"} for i in range(6)]
    )
    client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=new_assistant(client),
        truncation_strategy={"type": "last_messages", "last_messages": 2},
        **POLL,
    )
    assert [m["content"] for m in model.requests[-1]["messages"]] == [
        "Be brief.",
        "message 4",
        "message 5",
    ]


def test_truncation_auto_drops_the_oldest_to_fit_the_budget(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    long = "word " * 120  # about 120 tokens each
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"{i}: {long}"} for i in range(8)]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=new_assistant(client), max_prompt_tokens=400, **POLL
    )
    assert run.status == "completed"
    kept = [m["content"][:2] for m in model.requests[-1]["messages"][1:]]
    assert kept == ["5:", "6:", "7:"], "the newest messages that fit, oldest dropped"


def test_prompt_budget_too_small_ends_incomplete(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=new_assistant(client, instructions="rule " * 400),
        max_prompt_tokens=256,
        **POLL,
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert model.requests == [], "nothing was sent to the model"


def test_completion_budget_ends_incomplete(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Write a lot"}])
    model.push(Text("A very long answer that was cut", finish_reason="length"))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=new_assistant(client),
        max_completion_tokens=300,
        **POLL,
    )
    assert model.requests[-1]["max_tokens"] == 300
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"


def test_run_errors_are_400_or_404(server: ServerProcess, client: openai.OpenAI) -> None:
    assistant_id = new_assistant(client, tools=[WEATHER])
    thread_id = client.beta.threads.create().id
    cases: list[tuple[dict[str, object], int, str | None]] = [
        ({}, 400, "assistant_id"),
        ({"assistant_id": "asst_missing"}, 404, None),
        ({"assistant_id": assistant_id, "max_prompt_tokens": 100}, 400, "max_prompt_tokens"),
        (
            {"assistant_id": assistant_id, "truncation_strategy": {"type": "middle"}},
            400,
            "truncation_strategy.type",
        ),
        (
            {
                "assistant_id": assistant_id,
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            400,
            "tool_choice.function.name",
        ),
        (
            {"assistant_id": assistant_id, "tool_choice": "required", "tools": []},
            400,
            "tool_choice",
        ),
        (
            {"assistant_id": assistant_id, "tools": [{"type": "code_interpreter"}] * 21},
            400,
            "tools",
        ),
        ({"assistant_id": assistant_id, "temperature": 3}, 400, "temperature"),
        ({"assistant_id": assistant_id, "surprise": True}, 400, "surprise"),
    ]
    with http(server) as api:
        for body, status, param in cases:
            response = api.post(f"threads/{thread_id}/runs", json=body)
            assert response.status_code == status, (body, response.text)
            assert error_of(response)["param"] == param, body
        bad_include = api.post(
            f"threads/{thread_id}/runs",
            params={"include[]": "everything"},
            json={"assistant_id": assistant_id},
        )
        assert bad_include.status_code == 400
        assert error_of(bad_include)["param"] == "include"
        assert api.get(f"threads/{thread_id}/runs").json()["data"] == [], "nothing was created"
        missing = api.post("threads/thread_missing/runs", json={"assistant_id": assistant_id})
        assert missing.status_code == 404
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_missing", thread_id=thread_id)


def test_update_run_metadata(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=new_assistant(client), **POLL
    )
    updated = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"a": "b"})
    assert updated.metadata == {"a": "b"}
    assert updated.status == "completed"


def test_twenty_threads_run_at_once(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    model.default_reply = Text("concurrent answer", chunk_delay=0.01)
    assistant_id = new_assistant(client)
    results: dict[int, str] = {}

    def one(i: int) -> None:
        thread = client.beta.threads.create(messages=[{"role": "user", "content": f"q{i}"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant_id, **POLL
        )
        results[i] = run.status

    try:
        workers = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        model.default_reply = Text("ok")
    assert results == {i: "completed" for i in range(20)}
    assert len(model.requests) == 20


def _wait_for_message(client: openai.OpenAI, thread_id: str, run_id: str) -> None:
    for _ in range(500):
        if client.beta.threads.messages.list(thread_id, run_id=run_id).data:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the run never started its message")
