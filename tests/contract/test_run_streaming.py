"""Run streams (wire-spec sections 7 and 8): event order, delta shapes, SSE framing, errors inside
a stream, keep-alives and cancellation, through the SDK stream helpers and byte-exact over HTTP."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message, MessageDelta, Text, TextDelta
from openai.types.beta.threads.runs import RunStep, RunStepDelta, ToolCall, ToolCallDelta

from tests.conftest import ServerFactory, sdk_client
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess
from tests.support.sse import SseComment, SseEvent, iter_frames, post_stream
from tests.support.upstream import CutStream, HttpError, ScriptedUpstream, ToolCalls, fake_usage
from tests.support.upstream import Text as Reply

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PARIS = '{"city": "Paris"}'
ROME = '{"city": "Rome"}'
ANSWER = "The weather in Paris is sunny today."

RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
MESSAGE_START = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
MESSAGE_END = ["thread.message.completed", "thread.run.step.completed"]
# Five scripted 500s: more than the server's default 3 retries after the first attempt.
ALWAYS_500 = [HttpError(500)] * 5


class Recorder(AssistantEventHandler):
    """Records every callback of the SDK's event handler, in order, with what identifies it."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[Any, ...]] = []
        self.steps_done: list[RunStep] = []  # the objects of the step completed/failed/... events

    def on_event(self, event: AssistantStreamEvent) -> None:
        self.log.append(("event", event.event))

    def on_run_step_created(self, run_step: RunStep) -> None:
        self.log.append(("step_created", run_step.id, run_step.type))

    def on_run_step_delta(self, delta: RunStepDelta, snapshot: RunStep) -> None:
        self.log.append(("step_delta", snapshot.id))

    def on_run_step_done(self, run_step: RunStep) -> None:
        self.log.append(("step_done", run_step.id, run_step.status))
        self.steps_done.append(run_step)

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        function = getattr(tool_call, "function", None)
        self.log.append(("tool_call_created", tool_call.id, getattr(function, "name", None)))

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        function = getattr(delta, "function", None)
        self.log.append(("tool_call_delta", delta.index, getattr(function, "arguments", None)))

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        function = getattr(tool_call, "function", None)
        self.log.append(("tool_call_done", tool_call.id, getattr(function, "arguments", None)))

    def on_message_created(self, message: Message) -> None:
        self.log.append(("message_created", message.id, message.status))

    def on_message_delta(self, delta: MessageDelta, snapshot: Message) -> None:
        self.log.append(("message_delta", snapshot.id))

    def on_text_created(self, text: Text) -> None:
        self.log.append(("text_created", text.value))

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.log.append(("text_delta", delta.value))

    def on_text_done(self, text: Text) -> None:
        self.log.append(("text_done", text.value))

    def on_message_done(self, message: Message) -> None:
        self.log.append(("message_done", message.id, message.status))

    def on_end(self) -> None:
        self.log.append(("end",))

    def on_exception(self, exception: Exception) -> None:
        self.log.append(("exception", type(exception).__name__))

    def on_timeout(self) -> None:
        self.log.append(("timeout",))

    @property
    def events(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "event"]

    def entries(self, *kinds: str) -> list[tuple[Any, ...]]:
        return [entry for entry in self.log if entry[0] in kinds]


def text_message_log(step_id: str, message_id: str, fragments: list[str]) -> list[tuple[Any, ...]]:
    """The callbacks of one message_creation step whose text arrives as `fragments`."""
    log: list[tuple[Any, ...]] = [
        ("event", "thread.run.step.created"),
        ("step_created", step_id, "message_creation"),
        ("event", "thread.run.step.in_progress"),
        ("event", "thread.message.created"),
        ("message_created", message_id, "in_progress"),
        ("event", "thread.message.in_progress"),
    ]
    for i, fragment in enumerate(fragments):
        log.append(("event", "thread.message.delta"))
        if i == 0:
            log.append(("text_created", fragment))
        log += [("text_delta", fragment), ("message_delta", message_id)]
    return [
        *log,
        ("event", "thread.message.completed"),
        ("text_done", "".join(fragments)),
        ("message_done", message_id, "completed"),
        ("event", "thread.run.step.completed"),
        ("step_done", step_id, "completed"),
    ]


def deltas_of(names: list[str], start: int) -> int:
    """How many `thread.message.delta` events follow position `start` without interruption."""
    count = 0
    while start + count < len(names) and names[start + count] == "thread.message.delta":
        count += 1
    return count


def text_of(message: Message) -> str:
    assert len(message.content) == 1
    part = message.content[0]
    assert part.type == "text"
    return part.text.value  # type: ignore[union-attr]


def upstream_usage(model: ScriptedUpstream, completions: list[str]) -> tuple[int, int]:
    """The usage the scripted model reported for each recorded request, summed."""
    assert len(model.requests) == len(completions)
    counts = [
        fake_usage(body, text) for body, text in zip(model.requests, completions, strict=True)
    ]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


@pytest.fixture
def assistant_id(client: openai.OpenAI) -> str:
    return client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL]).id


@pytest.fixture
def thread_id(client: openai.OpenAI) -> str:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    return thread.id


# --- plain text answer -----------------------------------------------------------------------


@pytest.mark.parametrize("helper", ["stream", "create_and_stream"])
def test_text_answer_through_event_handler(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str, helper: str
) -> None:
    model.push(Reply(ANSWER, chunk_size=5))
    recorder = Recorder()
    start = getattr(client.beta.threads.runs, helper)
    with start(thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder) as stream:
        assert stream is recorder
        stream.until_done()

    final_run = recorder.get_final_run()
    assert final_run.status == "completed"
    steps = client.beta.threads.runs.steps.list(final_run.id, thread_id=thread_id).data
    assert len(steps) == 1
    messages = client.beta.threads.messages.list(thread_id, run_id=final_run.id).data
    assert len(messages) == 1
    fragments = [entry[1] for entry in recorder.entries("text_delta")]
    assert "".join(fragments) == ANSWER
    assert len(fragments) > 1, "the answer arrived in one piece: not streamed"
    assert recorder.log == [
        ("event", "thread.run.created"),
        ("event", "thread.run.queued"),
        ("event", "thread.run.in_progress"),
        *text_message_log(steps[0].id, messages[0].id, fragments),
        ("event", "thread.run.completed"),
        ("end",),
    ]

    prompt_tokens, completion_tokens = upstream_usage(model, [ANSWER])
    assert final_run.usage is not None
    assert (
        final_run.usage.prompt_tokens,
        final_run.usage.completion_tokens,
        final_run.usage.total_tokens,
    ) == (prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
    assert final_run.completed_at is not None
    assert final_run.expires_at is None
    retrieved = client.beta.threads.runs.retrieve(final_run.id, thread_id=thread_id)
    assert final_run.model_dump() == retrieved.model_dump()

    final_messages = recorder.get_final_messages()
    assert [m.model_dump() for m in final_messages] == [m.model_dump() for m in messages]
    assert text_of(final_messages[0]) == ANSWER
    assert final_messages[0].status == "completed"
    assert final_messages[0].run_id == final_run.id
    assert final_messages[0].assistant_id == assistant_id
    # The SDK's step snapshots come from step.created (+ deltas); the event objects are full.
    assert [s.id for s in recorder.get_final_run_steps()] == [steps[0].id]
    assert [s.model_dump() for s in recorder.steps_done] == [s.model_dump() for s in steps]
    assert steps[0].usage is not None
    assert steps[0].usage.model_dump() == final_run.usage.model_dump()
    assert steps[0].step_details.model_dump() == {
        "type": "message_creation",
        "message_creation": {"message_id": messages[0].id},
    }


def test_text_deltas_iterator(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(Reply(ANSWER, chunk_size=3))
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        assert "".join(stream.text_deltas) == ANSWER
        assert stream.get_final_run().status == "completed"


def test_raw_sse_framing_and_deltas(
    client: openai.OpenAI,
    server: ServerProcess,
    model: ScriptedUpstream,
    assistant_id: str,
    thread_id: str,
) -> None:
    model.push(Reply(ANSWER, chunk_size=6))
    with http(server) as api:
        raw = post_stream(
            api, f"threads/{thread_id}/runs", {"assistant_id": assistant_id, "stream": True}
        )
        assert raw.status_code == 200, raw.body
        assert raw.headers["content-type"].split(";")[0] == "text/event-stream"
        assert raw.headers["cache-control"] == "no-cache"
        assert raw.frames == raw.events, "no comment lines expected in a fast stream"
        assert raw.events[-1] == SseEvent("done", "[DONE]")
        assert raw.body.endswith("event: done\ndata: [DONE]\n\n")
        n = deltas_of(raw.names, 7)
        assert n > 1
        assert raw.names == [
            *RUN_START,
            *MESSAGE_START,
            *["thread.message.delta"] * n,
            *MESSAGE_END,
            "thread.run.completed",
            "done",
        ]
        # Compact JSON on one line, for every event but done.
        for event in raw.events[:-1]:
            assert event.data == json.dumps(event.json(), separators=(",", ":"), ensure_ascii=False)

        created, queued = raw.one("thread.run.created"), raw.one("thread.run.queued")
        run_id = created["id"]
        assert run_id.startswith("run_")
        assert (created["object"], created["status"], created["thread_id"]) == (
            "thread.run",
            "queued",
            thread_id,
        )
        assert queued == created
        in_progress = raw.one("thread.run.in_progress")
        assert (in_progress["id"], in_progress["status"]) == (run_id, "in_progress")
        assert in_progress["started_at"] is not None

        step = raw.one("thread.run.step.created")
        assert step["id"].startswith("step_")
        assert (step["object"], step["type"], step["status"], step["run_id"]) == (
            "thread.run.step",
            "message_creation",
            "in_progress",
            run_id,
        )
        assert step["usage"] is None
        message_id = step["step_details"]["message_creation"]["message_id"]
        assert step["step_details"] == {
            "type": "message_creation",
            "message_creation": {"message_id": message_id},
        }
        assert raw.one("thread.run.step.in_progress") == step
        message = raw.one("thread.message.created")
        assert message["id"] == message_id
        assert (message["object"], message["status"], message["role"], message["content"]) == (
            "thread.message",
            "in_progress",
            "assistant",
            [],
        )
        assert raw.one("thread.message.in_progress") == message

        deltas = raw.data("thread.message.delta")
        fragments = []
        for i, delta in enumerate(deltas):
            assert set(delta) == {"id", "object", "delta"}
            assert (delta["id"], delta["object"]) == (message_id, "thread.message.delta")
            assert set(delta["delta"]) <= {"role", "content"}
            [part] = delta["delta"]["content"]
            text = {"value": part["text"]["value"]}
            if i == 0:
                text["annotations"] = []  # only the first delta may carry it
            assert part == {"index": 0, "type": "text", "text": text}
            fragments.append(part["text"]["value"])
        assert "".join(fragments) == ANSWER

        completed_message = raw.one("thread.message.completed")
        assert completed_message["status"] == "completed"
        assert completed_message["content"] == [
            {"type": "text", "text": {"value": ANSWER, "annotations": []}}
        ]
        completed_step = raw.one("thread.run.step.completed")
        assert completed_step["status"] == "completed"
        assert completed_step["usage"] is not None
        completed_run = raw.one("thread.run.completed")
        assert completed_run["usage"] == completed_step["usage"]

        # Object events carry the object exactly as GET returns it afterwards.
        assert api.get(f"threads/{thread_id}/messages/{message_id}").json() == completed_message
        steps_path = f"threads/{thread_id}/runs/{run_id}/steps/{step['id']}"
        assert api.get(steps_path).json() == completed_step
        assert api.get(f"threads/{thread_id}/runs/{run_id}").json() == completed_run


# --- function calls ----------------------------------------------------------------------------


def test_parallel_function_calls_raw_deltas(
    server: ServerProcess, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(ToolCalls([("get_weather", PARIS), ("get_weather", ROME)]))
    with http(server) as api:
        raw = post_stream(
            api, f"threads/{thread_id}/runs", {"assistant_id": assistant_id, "stream": True}
        )
        assert raw.status_code == 200, raw.body
        n = raw.names.count("thread.run.step.delta")
        assert raw.names == [
            *RUN_START,
            "thread.run.step.created",
            "thread.run.step.in_progress",
            *["thread.run.step.delta"] * n,
            "thread.run.requires_action",
            "done",
        ]
        step = raw.one("thread.run.step.created")
        assert (step["type"], step["status"]) == ("tool_calls", "in_progress")
        assert step["step_details"] == {"type": "tool_calls", "tool_calls": []}
        assert raw.one("thread.run.step.in_progress") == step

        first: dict[int, dict[str, Any]] = {}
        arguments: dict[int, str] = {}
        order: list[int] = []
        for delta in raw.data("thread.run.step.delta"):
            assert (delta["id"], delta["object"]) == (step["id"], "thread.run.step.delta")
            details = delta["delta"]["step_details"]
            assert details["type"] == "tool_calls"
            for item in details["tool_calls"]:
                index = item["index"]
                assert item["type"] == "function"
                if index not in first:
                    # The first delta of a call names it, once.
                    order.append(index)
                    first[index] = item
                    assert set(item) == {"index", "id", "type", "function"}, item
                    assert item["id"].startswith("call_")
                    assert item["function"]["name"] == "get_weather"
                    assert set(item["function"]) <= {"name", "arguments", "output"}
                    assert item["function"].get("output") is None
                    arguments[index] = item["function"].get("arguments", "")
                else:
                    # Later deltas carry only the growing fragment: no id, name or output again.
                    assert set(item) == {"index", "type", "function"}, item
                    assert set(item["function"]) == {"arguments"}, item
                    arguments[index] += item["function"]["arguments"]
        assert order == [0, 1]
        assert arguments == {0: PARIS, 1: ROME}
        call_ids = [first[0]["id"], first[1]["id"]]
        assert len(set(call_ids)) == 2

        run = raw.one("thread.run.requires_action")
        assert run["status"] == "requires_action"
        assert run["usage"] is None
        assert run["required_action"] == {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": call_ids[0],
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": PARIS},
                    },
                    {
                        "id": call_ids[1],
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ROME},
                    },
                ]
            },
        }
        assert api.get(f"threads/{thread_id}/runs/{run['id']}").json() == run
        # The tool step stays in_progress while the run waits for outputs.
        stored = api.get(f"threads/{thread_id}/runs/{run['id']}/steps/{step['id']}").json()
        assert stored["status"] == "in_progress"
        assert stored["usage"] is None
        assert stored["step_details"] == {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": call_ids[0],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": PARIS, "output": None},
                },
                {
                    "id": call_ids[1],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ROME, "output": None},
                },
            ],
        }


def test_function_calls_then_submit_tool_outputs_stream(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(ToolCalls([("get_weather", PARIS), ("get_weather", ROME)]))
    first = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=first
    ) as stream:
        stream.until_done()
    run = first.get_final_run()
    assert run.status == "requires_action"
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", PARIS),
        ("get_weather", ROME),
    ]
    assert first.events[-1] == "thread.run.requires_action"
    assert first.events[:5] == [
        *RUN_START,
        "thread.run.step.created",
        "thread.run.step.in_progress",
    ]
    assert set(first.events[5:-1]) == {"thread.run.step.delta"}
    assert first.entries("tool_call_created", "tool_call_done") == [
        ("tool_call_created", calls[0].id, "get_weather"),
        ("tool_call_done", calls[0].id, PARIS),
        ("tool_call_created", calls[1].id, "get_weather"),
        ("tool_call_done", calls[1].id, ROME),
    ]
    assert first.entries("step_done") == [], "the tool step must stay in_progress"
    assert first.log[-1] == ("end",)
    [tool_step] = first.get_final_run_steps()
    assert tool_step.status == "in_progress"
    snapshot = tool_step.step_details.model_dump()
    assert snapshot["type"] == "tool_calls"
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"], c["function"]["output"])
        for c in snapshot["tool_calls"]
    ] == [(calls[0].id, "get_weather", PARIS, None), (calls[1].id, "get_weather", ROME, None)]

    model.push(Reply(ANSWER))
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread_id,
        tool_outputs=[
            {"tool_call_id": calls[1].id, "output": "rainy"},
            {"tool_call_id": calls[0].id, "output": "sunny"},
        ],
        event_handler=second,
    ) as stream:
        stream.until_done()
    final_run = second.get_final_run()
    assert final_run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    assert len(steps) == 2
    assert steps[0].id == tool_step.id
    messages = client.beta.threads.messages.list(thread_id, run_id=run.id).data
    assert len(messages) == 1
    fragments = [entry[1] for entry in second.entries("text_delta")]
    assert "".join(fragments) == ANSWER
    assert second.log == [
        ("event", "thread.run.step.completed"),
        ("step_done", tool_step.id, "completed"),
        ("event", "thread.run.queued"),
        ("event", "thread.run.in_progress"),
        *text_message_log(steps[1].id, messages[0].id, fragments),
        ("event", "thread.run.completed"),
        ("end",),
    ]

    # The stream's first event is the tool step with its outputs filled in.
    assert [s.model_dump() for s in second.steps_done] == [s.model_dump() for s in steps]
    assert steps[0].status == "completed"
    assert steps[0].completed_at is not None
    details = steps[0].step_details.model_dump()
    assert [(c["id"], c["function"]["output"]) for c in details["tool_calls"]] == [
        (calls[0].id, "sunny"),
        (calls[1].id, "rainy"),
    ]
    assert [(m["role"], m["content"]) for m in model.requests[1]["messages"][-2:]] == [
        ("tool", "sunny"),
        ("tool", "rainy"),
    ]
    retrieved = client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
    assert final_run.model_dump() == retrieved.model_dump()
    assert text_of(messages[0]) == ANSWER
    # The run's usage covers both model turns.
    prompt_tokens, completion_tokens = upstream_usage(
        model, ["get_weather" + PARIS + "get_weather" + ROME, ANSWER]
    )
    assert final_run.usage is not None
    assert (final_run.usage.prompt_tokens, final_run.usage.completion_tokens) == (
        prompt_tokens,
        completion_tokens,
    )


# --- create thread and run --------------------------------------------------------------------


def test_create_and_run_stream_starts_with_thread_created(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str
) -> None:
    model.push(Reply(ANSWER))
    created: list[Any] = []

    class Threads(Recorder):
        def on_event(self, event: AssistantStreamEvent) -> None:
            super().on_event(event)
            if event.event == "thread.created":
                created.append(event.data)

    recorder = Threads()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()
    assert recorder.events[0] == "thread.created"
    assert recorder.events[1:4] == RUN_START
    assert recorder.events[4:8] == MESSAGE_START
    assert recorder.events[-3:] == [*MESSAGE_END, "thread.run.completed"]
    [thread] = created
    assert thread.id.startswith("thread_")
    assert thread.object == "thread"
    assert client.beta.threads.retrieve(thread.id).model_dump() == thread.model_dump()
    final_run = recorder.get_final_run()
    assert final_run.status == "completed"
    assert final_run.thread_id == thread.id
    assert final_run.assistant_id == assistant_id
    listed = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [(m.role, text_of(m)) for m in listed] == [
        ("user", "Weather in Paris?"),
        ("assistant", ANSWER),
    ]
    assert model.requests[0]["messages"][-1] == {"role": "user", "content": "Weather in Paris?"}


def test_create_and_run_raw_stream(
    server: ServerProcess, model: ScriptedUpstream, assistant_id: str
) -> None:
    model.push(Reply("Hi"))
    with http(server) as api:
        raw = post_stream(api, "threads/runs", {"assistant_id": assistant_id, "stream": True})
        assert raw.status_code == 200, raw.body
        n = deltas_of(raw.names, 8)
        assert raw.names == [
            "thread.created",
            *RUN_START,
            *MESSAGE_START,
            *["thread.message.delta"] * n,
            *MESSAGE_END,
            "thread.run.completed",
            "done",
        ]
        thread = raw.one("thread.created")
        assert api.get(f"threads/{thread['id']}").json() == thread
        assert raw.one("thread.run.created")["thread_id"] == thread["id"]
        assert raw.one("thread.run.completed")["thread_id"] == thread["id"]


# --- failures inside a stream -----------------------------------------------------------------


def test_upstream_failure_raises_api_error_in_sdk(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(*ALWAYS_500)
    recorder = Recorder()
    with (
        client.beta.threads.runs.stream(
            thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder
        ) as stream,
        pytest.raises(openai.APIError) as info,
    ):
        stream.until_done()
    error = info.value
    assert type(error) is openai.APIError  # raised from the stream, not from an HTTP status
    assert recorder.events == [*RUN_START, "thread.run.failed"]
    assert recorder.log[-2:] == [("exception", "APIError"), ("end",)]
    run = recorder.get_final_run()
    assert run.status == "failed"
    assert run.failed_at is not None
    assert run.last_error is not None
    assert run.last_error.code == "server_error"
    assert "500" in run.last_error.message
    assert error.message == run.last_error.message
    assert error.body == {
        "message": run.last_error.message,
        "type": "server_error",
        "param": None,
        "code": "server_error",
    }
    assert (error.code, error.type, error.param) == ("server_error", "server_error", None)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).model_dump() == (
        run.model_dump()
    )
    assert len(model.requests) == 4  # the first attempt and 3 retries


def test_upstream_failure_raw_events(
    server: ServerProcess, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(*ALWAYS_500)
    with http(server) as api:
        raw = post_stream(
            api, f"threads/{thread_id}/runs", {"assistant_id": assistant_id, "stream": True}
        )
        assert raw.status_code == 200, raw.body
        assert raw.names == [*RUN_START, "thread.run.failed", "error", "done"]
        failed = raw.one("thread.run.failed")
        assert failed["status"] == "failed"
        assert failed["last_error"]["code"] == "server_error"
        assert set(failed["last_error"]) == {"code", "message"}
        assert raw.one("error") == {
            "error": {
                "message": failed["last_error"]["message"],
                "type": "server_error",
                "param": None,
                "code": "server_error",
            }
        }
        assert raw.events[-1] == SseEvent("done", "[DONE]")
        assert api.get(f"threads/{thread_id}/runs/{failed['id']}").json() == failed
    assert len(model.requests) == 4


def test_cut_upstream_stream_raw_events(
    server: ServerProcess, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(CutStream("partial answer", after_chunks=2))
    with http(server) as api:
        raw = post_stream(
            api, f"threads/{thread_id}/runs", {"assistant_id": assistant_id, "stream": True}
        )
        assert raw.status_code == 200, raw.body
        assert raw.names == [
            *RUN_START,
            *MESSAGE_START,
            "thread.message.delta",
            "thread.message.delta",
            "thread.message.incomplete",
            "thread.run.step.failed",
            "thread.run.failed",
            "error",
            "done",
        ]
        fragments = [
            d["delta"]["content"][0]["text"]["value"] for d in raw.data("thread.message.delta")
        ]
        assert "".join(fragments) == "partial "
        message = raw.one("thread.message.incomplete")
        assert message["status"] == "incomplete"
        assert message["incomplete_details"] == {"reason": "run_failed"}
        assert message["incomplete_at"] is not None
        assert message["completed_at"] is None
        assert message["content"] == [
            {"type": "text", "text": {"value": "partial ", "annotations": []}}
        ]
        step = raw.one("thread.run.step.failed")
        run = raw.one("thread.run.failed")
        assert step["status"] == "failed"
        assert step["failed_at"] is not None
        assert step["last_error"] == run["last_error"]
        assert run["last_error"]["code"] == "server_error"
        assert raw.one("error") == {
            "error": {
                "message": run["last_error"]["message"],
                "type": "server_error",
                "param": None,
                "code": "server_error",
            }
        }
        assert api.get(f"threads/{thread_id}/messages/{message['id']}").json() == message
        assert api.get(f"threads/{thread_id}/runs/{run['id']}/steps/{step['id']}").json() == step
        assert api.get(f"threads/{thread_id}/runs/{run['id']}").json() == run
    assert len(model.requests) == 1  # output had started: no retry


def test_cut_upstream_stream_in_sdk(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(CutStream("partial answer", after_chunks=1))
    recorder = Recorder()
    with (
        client.beta.threads.runs.stream(
            thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder
        ) as stream,
        pytest.raises(openai.APIError) as info,
    ):
        stream.until_done()
    assert type(info.value) is openai.APIError
    [message] = recorder.get_final_messages()
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_failed"
    assert text_of(message) == "part"
    assert recorder.entries("text_done", "message_done", "step_done") == [
        ("text_done", "part"),
        ("message_done", message.id, "incomplete"),
        ("step_done", recorder.get_final_run_steps()[0].id, "failed"),
    ]
    assert recorder.get_final_run().status == "failed"
    assert recorder.log[-2:] == [("exception", "APIError"), ("end",)]


# --- errors before the stream -----------------------------------------------------------------


def test_lookup_errors_are_json_before_the_stream(
    client: openai.OpenAI, server: ServerProcess, model: ScriptedUpstream, thread_id: str
) -> None:
    with (
        pytest.raises(openai.NotFoundError) as info,
        client.beta.threads.runs.stream(thread_id=thread_id, assistant_id="asst_missing"),
    ):
        pytest.fail("the stream must not open")
    assert sdk_error_message(info.value) == "No assistant found with id 'asst_missing'."
    with (
        pytest.raises(openai.NotFoundError) as info,
        client.beta.threads.create_and_run_stream(assistant_id="asst_missing"),
    ):
        pytest.fail("the stream must not open")
    assert sdk_error_message(info.value) == "No assistant found with id 'asst_missing'."
    assistant = client.beta.assistants.create(model="gpt-4o")
    with (
        pytest.raises(openai.NotFoundError) as info,
        client.beta.threads.runs.stream(thread_id="thread_missing", assistant_id=assistant.id),
    ):
        pytest.fail("the stream must not open")
    assert sdk_error_message(info.value) == "No thread found with id 'thread_missing'."
    with http(server) as api:
        response = api.post(
            f"threads/{thread_id}/runs", json={"assistant_id": "asst_missing", "stream": True}
        )
    assert response.status_code == 404
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert error_of(response)["message"] == "No assistant found with id 'asst_missing'."
    assert client.beta.threads.runs.list(thread_id).data == []
    assert model.requests == []


def test_active_run_is_a_400_before_the_stream(
    client: openai.OpenAI,
    server: ServerProcess,
    model: ScriptedUpstream,
    assistant_id: str,
    thread_id: str,
) -> None:
    model.push(ToolCalls([("get_weather", PARIS)]))
    active = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=25
    )
    assert active.status == "requires_action"
    expected = f"Thread {thread_id} already has an active run {active.id}."
    with (
        pytest.raises(openai.BadRequestError) as info,
        client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id),
    ):
        pytest.fail("the stream must not open")
    assert sdk_error_message(info.value) == expected
    with http(server) as api:
        response = api.post(
            f"threads/{thread_id}/runs", json={"assistant_id": assistant_id, "stream": True}
        )
    assert response.status_code == 400
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert error_of(response) == {
        "message": expected,
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    # Tool outputs for a run that does not wait for them: 400 before any stream too.
    assert active.required_action is not None
    call_id = active.required_action.submit_tool_outputs.tool_calls[0].id
    client.beta.threads.runs.cancel(active.id, thread_id=thread_id)
    with (
        pytest.raises(openai.BadRequestError),
        client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=active.id,
            thread_id=thread_id,
            tool_outputs=[{"tool_call_id": call_id, "output": "x"}],
        ),
    ):
        pytest.fail("the stream must not open")
    assert [r.id for r in client.beta.threads.runs.list(thread_id)] == [active.id]
    assert len(model.requests) == 1


# --- keep-alive -------------------------------------------------------------------------------


def test_keep_alive_comments_during_a_slow_answer(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(env={"ASSISTANTD_STREAM_KEEPALIVE_SECONDS": "0.2"}).start()
    try:
        client = sdk_client(server)
        assistant = client.beta.assistants.create(model="gpt-4o")
        thread = client.beta.threads.create()
        model.push(Reply("slow", delay=1.0))
        with http(server) as api:
            raw = post_stream(
                api, f"threads/{thread.id}/runs", {"assistant_id": assistant.id, "stream": True}
            )
        assert raw.status_code == 200, raw.body
        first_delta = next(
            i
            for i, frame in enumerate(raw.frames)
            if isinstance(frame, SseEvent) and frame.event == "thread.message.delta"
        )
        comments = [i for i, frame in enumerate(raw.frames) if isinstance(frame, SseComment)]
        assert comments, "no keep-alive during a 1 s pause with a 0.2 s keep-alive interval"
        assert comments[0] < first_delta
        assert {raw.frames[i] for i in comments} == {SseComment("keep-alive")}
        assert "\n: keep-alive\n\n" in raw.body
        assert raw.events[-2:] == [
            SseEvent("thread.run.completed", raw.events[-2].data),
            SseEvent("done", "[DONE]"),
        ]

        # The SDK skips the comment lines.
        model.push(Reply("slow", delay=0.6))
        second = client.beta.threads.create()
        with client.beta.threads.runs.stream(
            thread_id=second.id, assistant_id=assistant.id
        ) as stream:
            stream.until_done()
            assert stream.get_final_run().status == "completed"
            assert text_of(stream.get_final_messages()[0]) == "slow"
    finally:
        server.stop()


# --- cancel during a stream -------------------------------------------------------------------

LONG_ANSWER = "a long answer that keeps streaming for well over a second, two characters at a time"


def test_cancel_during_sdk_stream(
    client: openai.OpenAI, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(Reply(LONG_ANSWER, chunk_size=2, chunk_delay=0.05))
    recorder = Recorder()
    cancelling: list[str] = []
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta" and not cancelling:
                current = stream.current_run
                assert current is not None
                run_id = current.id
                response = client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
                cancelling.append(response.status)
    assert cancelling == ["cancelling"]
    events = [name for name in recorder.events if name != "thread.run.cancelling"]
    n = deltas_of(events, 7)
    assert events == [
        *RUN_START,
        *MESSAGE_START,
        *["thread.message.delta"] * n,
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    fragments = [entry[1] for entry in recorder.entries("text_delta")]
    partial = "".join(fragments)
    assert 0 < len(partial) < len(LONG_ANSWER)
    assert LONG_ANSWER.startswith(partial)

    run = recorder.get_final_run()
    assert run.status == "cancelled"
    assert run.cancelled_at is not None
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).model_dump() == (
        run.model_dump()
    )
    [message] = client.beta.threads.messages.list(thread_id, run_id=run.id).data
    assert [m.model_dump() for m in recorder.get_final_messages()] == [message.model_dump()]
    assert message.status == "incomplete"
    assert message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_cancelled"
    assert text_of(message) == partial
    [step] = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data
    assert step.status == "cancelled"
    assert step.cancelled_at is not None
    assert recorder.entries("message_done", "step_done") == [
        ("message_done", message.id, "incomplete"),
        ("step_done", step.id, "cancelled"),
    ]
    assert recorder.log[-1] == ("end",)
    assert recorder.entries("exception") == []


def test_cancel_during_raw_stream(
    server: ServerProcess, model: ScriptedUpstream, assistant_id: str, thread_id: str
) -> None:
    model.push(Reply(LONG_ANSWER, chunk_size=2, chunk_delay=0.05))
    names: list[str] = []
    last: dict[str, Any] = {}
    with http(server) as api, http(server) as control:
        body = {"assistant_id": assistant_id, "stream": True}
        with api.stream("POST", f"threads/{thread_id}/runs", json=body) as response:
            assert response.status_code == 200
            for frame in iter_frames(response):
                if not isinstance(frame, SseEvent):
                    continue
                names.append(frame.event)
                if frame.event != "done":
                    last[frame.event] = frame.json()
                if frame.event == "thread.message.delta" and names.count(frame.event) == 1:
                    run_id = last["thread.run.created"]["id"]
                    cancel = control.post(f"threads/{thread_id}/runs/{run_id}/cancel")
                    assert cancel.status_code == 200
                    assert cancel.json()["status"] == "cancelling"
        names = [name for name in names if name != "thread.run.cancelling"]
        assert names[-4:] == [
            "thread.message.incomplete",
            "thread.run.step.cancelled",
            "thread.run.cancelled",
            "done",
        ]
        run = last["thread.run.cancelled"]
        assert run["status"] == "cancelled"
        message = last["thread.message.incomplete"]
        assert message["incomplete_details"] == {"reason": "run_cancelled"}
        assert last["thread.run.step.cancelled"]["status"] == "cancelled"
        assert api.get(f"threads/{thread_id}/runs/{run['id']}").json() == run
        assert api.get(f"threads/{thread_id}/messages/{message['id']}").json() == message
