"""Engine-side file_search (`file_search = "engine"` on a `[models]` route): on a run's first turn
the engine searches with the user's message and records the call as the model-driven path does;
the model is not offered the tool, gets the passages with their markers, and its markers become
file_citation annotations. Later turns of the run do not search again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.contract.test_file_search_runs import INCLUDE, PASTA, REDWOOD, SEARCH, store_with
from tests.support.raw import http
from tests.support.server import ServerProcess
from tests.support.sse import post_stream
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 20}
QUESTION = "Which tree is the tallest?"
CITED = "The coast redwood is the tallest tree. 【0:0†redwood.txt】"
MARKER = "【0:0†redwood.txt】"
CITE_NOTE = "After each sentence that uses an excerpt, copy that excerpt's marker"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
RUN_START = ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
TOOL_STEP = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.step.completed",
]
MESSAGE_START = [
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]
MESSAGE_END = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed"]


@pytest.fixture(scope="module")
def engine_server(
    make_server: ServerFactory,
    upstream: ScriptedUpstream,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """The scripted upstream as the default route (the model searches), plus a route where the
    engine searches and one where it also emulates the tools in the prompt."""
    config = tmp_path_factory.mktemp("engine-search") / "assistantd.toml"
    config.write_text(
        '[models."weak"]\nfile_search = "engine"\n\n'
        f'[models."weak-text"]\nbase_url = "{upstream.base_url}"\ntools = false\n'
        'file_search = "engine"\n'
    )
    server = make_server(env={"ASSISTANTD_CONFIG": str(config)}).start()
    yield server
    server.stop()


@pytest.fixture
def client(engine_server: ServerProcess) -> openai.OpenAI:
    return sdk_client(engine_server)


def assistant(
    client: openai.OpenAI, model: str, store_id: str | None, tools: list[Any] | None = None
) -> str:
    extra: dict[str, Any] = {}
    if store_id is not None:
        extra["tool_resources"] = {"file_search": {"vector_store_ids": [store_id]}}
    return client.beta.assistants.create(
        model=model,
        instructions="Answer from the files and cite them.",
        tools=[*(tools or []), {"type": "file_search"}],
        **extra,
    ).id


def ask(client: openai.OpenAI, assistant_id: str, **run: Any) -> tuple[str, Any]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
    created = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL, **run
    )
    return thread.id, created


def steps_of(client: openai.OpenAI, thread_id: str, run_id: str, **params: Any) -> list[Any]:
    return client.beta.threads.runs.steps.list(
        run_id, thread_id=thread_id, order="asc", **params
    ).data


def test_the_engine_searches_and_the_model_answers_with_citations(
    client: openai.OpenAI, engine_server: ServerProcess, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    model.push(Text(CITED))
    thread_id, run = ask(client, assistant(client, "weak", store_id))
    assert run.status == "completed", run.last_error

    # One model call, without the tool, with the search as if the model had made it.
    (sent,) = model.requests
    assert "tools" not in sent
    assert "tool_choice" not in sent
    system, user, call, result = sent["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Answer from the files and cite them.\n\n")
    assert CITE_NOTE in system["content"]
    assert user == {"role": "user", "content": QUESTION}
    (function_call,) = call["tool_calls"]
    assert function_call["function"]["name"] == "file_search"
    assert json.loads(function_call["function"]["arguments"]) == {"queries": [QUESTION]}
    assert result["role"] == "tool"
    assert result["tool_call_id"] == function_call["id"]
    assert result["content"].startswith(f"{MARKER} (file: redwood.txt, score ")
    assert REDWOOD.decode() in result["content"]

    # The step is a normal completed file_search call, then the answer.
    steps = steps_of(client, thread_id, run.id)
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    (item,) = steps[0].step_details.tool_calls
    assert item.id == function_call["id"]
    assert item.type == "file_search"
    assert item.file_search.ranking_options.model_dump() == {
        "ranker": "default_2024_08_21",
        "score_threshold": 0.0,
    }
    results = item.file_search.results or []
    assert results[0].file_id == ids["redwood.txt"]
    assert results[0].file_name == "redwood.txt"
    assert all(r.content is None for r in results)
    assert steps[0].usage is not None
    assert (steps[0].usage.prompt_tokens, steps[0].usage.completion_tokens) == (0, 0)
    with http(engine_server) as api:
        raw = api.get(
            f"threads/{thread_id}/runs/{run.id}/steps/{steps[0].id}",
            params={"include[]": INCLUDE},
        ).json()
    (stored,) = raw["step_details"]["tool_calls"]
    assert set(stored) == {"id", "type", "file_search"}
    assert stored["file_search"]["results"][0]["content"] == [
        {"type": "text", "text": REDWOOD.decode()}
    ]
    listed = steps_of(client, thread_id, run.id, include=[INCLUDE])
    first = listed[0].step_details.tool_calls[0].file_search.results[0]
    assert first.content[0].text == REDWOOD.decode()

    # The marker is an exact citation of the redwood file.
    message = client.beta.threads.messages.list(thread_id, run_id=run.id).data[0]
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.value == CITED
    (note,) = text.annotations
    assert note.type == "file_citation"
    assert note.file_citation.file_id == ids["redwood.txt"]  # type: ignore[union-attr]
    assert text.value[note.start_index : note.end_index] == MARKER == note.text


def test_the_recorded_step_is_the_model_driven_one(
    client: openai.OpenAI, engine_server: ServerProcess, model: ScriptedUpstream
) -> None:
    """The same question through the default route (the model calls the tool with the same
    query): both runs record the same results and stream the same events."""
    store_id, _ = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    by_model = assistant(client, "gpt-4o", store_id)
    by_engine = assistant(client, "weak", store_id)
    recorded = {}
    streamed = {}
    query = json.dumps({"queries": [QUESTION]})
    for name, assistant_id, replies in (
        ("model", by_model, [ToolCalls([("file_search", query)]), Text(CITED)]),
        ("engine", by_engine, [Text(CITED)]),
    ):
        model.push(*replies)
        thread_id = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}]).id
        with http(engine_server) as api:
            raw = post_stream(
                api, f"threads/{thread_id}/runs", {"assistant_id": assistant_id, "stream": True}
            )
            assert raw.status_code == 200, raw.body
            run_id = raw.one("thread.run.completed")["id"]
            step = api.get(
                f"threads/{thread_id}/runs/{run_id}/steps", params={"include[]": INCLUDE}
            ).json()["data"][-1]
        recorded[name] = step["step_details"]["tool_calls"][0]
        streamed[name] = raw
    model_item, engine_item = recorded["model"], recorded["engine"]
    assert {**engine_item, "id": None} == {**model_item, "id": None}

    names = streamed["engine"].names
    deltas = names.count("thread.message.delta")
    assert names == [
        *RUN_START,
        *TOOL_STEP,
        *MESSAGE_START,
        *["thread.message.delta"] * deltas,
        *MESSAGE_END,
        "done",
    ]
    model_names = streamed["model"].names
    assert [n for n in model_names if n != "thread.message.delta"] == [
        n for n in names if n != "thread.message.delta"
    ]
    raw = streamed["engine"]
    created = raw.data("thread.run.step.created")[0]
    assert created["step_details"] == {"type": "tool_calls", "tool_calls": []}
    assert created["status"] == "in_progress"
    (delta,) = raw.data("thread.run.step.delta")
    assert delta["delta"]["step_details"] == {
        "type": "tool_calls",
        "tool_calls": [
            {"index": 0, "id": engine_item["id"], "type": "file_search", "file_search": {}}
        ],
    }
    completed = raw.data("thread.run.step.completed")[0]
    assert completed["status"] == "completed"
    assert completed["step_details"]["tool_calls"][0]["id"] == engine_item["id"]


def test_a_route_with_emulated_tools_gets_the_passages_in_the_users_message(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    model.push(Text(CITED))
    thread_id, run = ask(client, assistant(client, "weak-text", store_id))
    assert run.status == "completed", run.last_error
    (sent,) = model.requests
    assert "tools" not in sent
    assert "response_format" not in sent
    system, user = sent["messages"]
    assert CITE_NOTE in system["content"]
    assert user["role"] == "user"
    assert user["content"].startswith(f"Excerpts from my files:\n\n{REDWOOD.decode()} {MARKER}")
    assert user["content"].endswith(f"\n\nQuestion: {QUESTION}")
    steps = steps_of(client, thread_id, run.id)
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    item = steps[0].step_details.tool_calls[0]
    assert item.type == "file_search"
    assert item.file_search.results[0].file_id == ids["redwood.txt"]
    text = client.beta.threads.messages.list(thread_id).data[0].content[0].text  # type: ignore[union-attr]
    assert [(a.text, a.file_citation.file_id) for a in text.annotations] == [  # type: ignore[union-attr]
        (MARKER, ids["redwood.txt"])
    ]


def test_no_store_means_no_search_and_no_tool(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    model.push(Text("I have no files to look in."))
    thread_id, run = ask(client, assistant(client, "weak", None))
    assert run.status == "completed", run.last_error
    assert [s.type for s in steps_of(client, thread_id, run.id)] == ["message_creation"]
    (sent,) = model.requests
    assert "tools" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "Answer from the files and cite them."},
        {"role": "user", "content": QUESTION},
    ]


def test_no_hits_tell_the_model_nothing_was_found(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, _ = store_with(client, ("redwood.txt", REDWOOD))
    model.push(Text("The files do not say."))
    thread_id, run = ask(
        client,
        client.beta.assistants.create(
            model="weak",
            tools=[
                {
                    "type": "file_search",
                    "file_search": {"ranking_options": {"score_threshold": 1.0}},
                }
            ],
            tool_resources={"file_search": {"vector_store_ids": [store_id]}},
        ).id,
    )
    assert run.status == "completed", run.last_error
    (step, _) = steps_of(client, thread_id, run.id)
    assert step.step_details.tool_calls[0].file_search.results == []
    (sent,) = model.requests
    assert sent["messages"][-1]["content"] == "No results found in the files."
    assert sent["messages"][0]["role"] == "user", "no cite instruction without results"


def test_a_later_turn_of_the_run_does_not_search_again(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD))
    model.push(ToolCalls([("get_weather", '{"city": "Eureka"}')]))
    thread_id, run = ask(client, assistant(client, "weak", store_id, [WEATHER]))
    assert run.status == "requires_action", run.last_error
    first = model.requests[0]
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
    assert first["messages"][-1]["role"] == "tool", "the search came first"

    model.push(Text("Sunny, among the tallest trees. 【0:0†redwood.txt】"))
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread_id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"sky": "sunny"}'}],
        **POLL,
    )
    assert run.status == "completed", run.last_error
    steps = steps_of(client, thread_id, run.id)
    kinds = [
        [c.type for c in s.step_details.tool_calls] if s.type == "tool_calls" else s.type
        for s in steps
    ]
    assert kinds == [["file_search"], ["function"], "message_creation"]
    second = model.requests[1]
    assert [t["function"]["name"] for t in second["tools"]] == ["get_weather"]
    named = [
        c["function"]["name"]
        for m in second["messages"]
        if m["role"] == "assistant"
        for c in m.get("tool_calls") or []
    ]
    assert named == ["file_search", "get_weather"], "the one search, then the function"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": '{"sky": "sunny"}',
    }
    assert len(model.requests) == 2
    text = client.beta.threads.messages.list(thread_id).data[0].content[0].text  # type: ignore[union-attr]
    assert [a.file_citation.file_id for a in text.annotations] == [ids["redwood.txt"]]  # type: ignore[union-attr]


def test_the_default_route_still_lets_the_model_search(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, _ = store_with(client, ("redwood.txt", REDWOOD))
    model.push(SEARCH, Text("Redwoods. 【0:0†redwood.txt】"))
    _thread_id, run = ask(client, assistant(client, "gpt-4o", store_id))
    assert run.status == "completed", run.last_error
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == ["file_search"]
    assert len(model.requests) == 2
