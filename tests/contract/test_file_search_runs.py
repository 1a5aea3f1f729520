"""file_search inside runs: the engine searches the run's vector stores, records the step,
tells the model numbered excerpts, and turns citation markers into exact annotations."""

from __future__ import annotations

from typing import Any

import openai
from openai import AssistantEventHandler
from openai.types.beta.threads import Message, MessageDelta

from tests.support.files import upload
from tests.support.raw import http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 20}
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
REDWOOD = b"Coast redwoods are the tallest trees on Earth, reaching 115 meters in California."
PASTA = b"Cook pasta in plenty of salted boiling water and stir it during the first minute."
SEARCH = ToolCalls([("file_search", '{"queries": ["tallest tree"]}')])


def store_with(client: openai.OpenAI, *files: tuple[str, bytes]) -> tuple[str, dict[str, str]]:
    ids = {name: upload(client, name, data) for name, data in files}
    store = client.vector_stores.create(name="docs", file_ids=list(ids.values()))
    for _ in range(300):
        if client.vector_stores.retrieve(store.id).file_counts.in_progress == 0:
            break
    return store.id, ids


def search_assistant(client: openai.OpenAI, store_id: str, **tool: Any) -> str:
    return client.beta.assistants.create(
        model="gpt-4o",
        instructions="Answer from the files and cite them.",
        tools=[{"type": "file_search", **({"file_search": tool} if tool else {})}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    ).id


def tool_message(request: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in request["messages"] if m["role"] == "tool")


def test_search_step_answer_and_exact_citation(
    client: openai.OpenAI, server: ServerProcess, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    assistant_id = search_assistant(client, store_id)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Which tree is the tallest?"}]
    )
    answer = "The coast redwood is the tallest tree 【0:0†redwood.txt】, up to 115 m."
    model.push(SEARCH, Text(answer))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed", run.last_error

    # The model was offered file_search as a function, then got the excerpts with markers.
    first, second = model.requests[-2:]
    assert [t["function"]["name"] for t in first["tools"]] == ["file_search"]
    output = tool_message(second)["content"]
    assert output.startswith("【0:0†redwood.txt】")
    assert REDWOOD.decode() in output

    # The step records the search with scores, without content unless include[] asks.
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    results = call.file_search.results or []  # type: ignore[union-attr]
    assert results[0].file_id == ids["redwood.txt"]
    assert results[0].file_name == "redwood.txt"
    assert all(0 <= r.score <= 1 for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert all(r.content is None for r in results)
    with http(server) as api:
        raw = api.get(
            f"threads/{thread.id}/runs/{run.id}/steps/{steps[0].id}", params={"include[]": INCLUDE}
        ).json()
    contents = raw["step_details"]["tool_calls"][0]["file_search"]["results"]
    assert contents[0]["content"] == [{"type": "text", "text": REDWOOD.decode()}]
    assert "_model" not in raw["step_details"]["tool_calls"][0]

    # The citation points exactly at the marker text in the value.
    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.value == answer
    (note,) = text.annotations
    assert note.type == "file_citation"
    assert note.file_citation.file_id == ids["redwood.txt"]  # type: ignore[union-attr]
    assert text.value[note.start_index : note.end_index] == "【0:0†redwood.txt】"
    assert note.text == "【0:0†redwood.txt】"


def test_unknown_markers_are_left_alone(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    store_id, _ = store_with(client, ("redwood.txt", REDWOOD))
    assistant_id = search_assistant(client, store_id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Tallest tree?"}])
    answer = "Redwoods 【0:0†redwood.txt】 and something made up 【3:9†nope.txt】."
    model.push(SEARCH, Text(answer))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    text = client.beta.threads.messages.list(thread.id).data[0].content[0].text  # type: ignore[union-attr]
    assert run.status == "completed"
    assert [a.text for a in text.annotations] == ["【0:0†redwood.txt】"]


class AnnotationRecorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.delta_annotations: list[dict[str, Any]] = []
        self.tool_call_types: list[str] = []
        self.final: list[Message] = []

    def on_message_delta(self, delta: MessageDelta, snapshot: Message) -> None:
        for part in delta.content or []:
            if part.type == "text" and part.text and part.text.annotations:
                self.delta_annotations.extend(a.model_dump() for a in part.text.annotations)

    def on_tool_call_created(self, tool_call: Any) -> None:
        self.tool_call_types.append(tool_call.type)

    def on_message_done(self, message: Message) -> None:
        self.final.append(message)


def test_streamed_annotations_match_the_stored_message(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    assistant_id = search_assistant(client, store_id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Trees?"}])
    answer = "Tallest: redwood 【0:0†redwood.txt】. Pasta 【0:1†pasta.txt】 is unrelated."
    # Chunks of 3 characters split every marker across several deltas.
    both = ToolCalls([("file_search", '{"queries": ["tallest tree", "cook pasta"]}')])
    model.push(both, Text(answer, chunk_size=3))
    handler = AnnotationRecorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert handler.tool_call_types == ["file_search"]
    (message,) = handler.final
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.value == answer
    stored = [a.model_dump() for a in text.annotations]
    assert len(stored) == 2
    assert [a["start_index"] for a in handler.delta_annotations] == [
        a["start_index"] for a in stored
    ]
    assert [a["end_index"] for a in handler.delta_annotations] == [a["end_index"] for a in stored]
    for item in stored:
        assert answer[item["start_index"] : item["end_index"]] == item["text"]
    files = [a["file_citation"]["file_id"] for a in stored]
    assert set(files) == {ids["redwood.txt"], ids["pasta.txt"]}


def test_attachments_feed_a_thread_store(client: openai.OpenAI, model: ScriptedUpstream) -> None:
    file_id = upload(client, "redwood.txt", REDWOOD)
    assistant_id = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}]).id
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "How tall do redwoods grow?",
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    assert thread.tool_resources is not None
    assert thread.tool_resources.file_search is not None
    (store_id,) = thread.tool_resources.file_search.vector_store_ids or []
    store = client.vector_stores.retrieve(store_id)
    assert store.expires_after is not None
    assert (store.expires_after.anchor, store.expires_after.days) == ("last_active_at", 7)
    model.push(SEARCH, Text("115 meters 【0:0†redwood.txt】."))
    # Started at once: the run waits for the attachment to be ingested before searching.
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    assert REDWOOD.decode() in tool_message(model.requests[-1])["content"]
    client.beta.threads.delete(thread.id)
    try:
        client.vector_stores.retrieve(store_id)
    except openai.NotFoundError:
        pass
    else:
        raise AssertionError("the thread's attachment store outlived the thread")


def test_tool_choice_and_options_reach_the_engine(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    store_id, ids = store_with(client, ("redwood.txt", REDWOOD), ("pasta.txt", PASTA))
    assistant_id = search_assistant(
        client, store_id, max_num_results=1, ranking_options={"score_threshold": 0.0}
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Trees?"}])
    model.push(SEARCH, Text("Redwoods."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        tool_choice={"type": "file_search"},
        include=[INCLUDE],
        **POLL,
    )
    assert run.status == "completed"
    first, second = model.requests[-2:]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "file_search"}}
    assert second["tool_choice"] == "auto"  # forcing ends once the search has answered
    assert tool_message(second)["content"].count("【0:") == 1  # max_num_results=1
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, include=[INCLUDE])
    call = steps.data[-1].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert [r.file_id for r in call.file_search.results or []] == [ids["redwood.txt"]]
    assert call.file_search.results[0].content[0].text == REDWOOD.decode()  # type: ignore[index]


def test_no_store_means_no_results_not_a_failure(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    assistant_id = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}]).id
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Trees?"}])
    model.push(SEARCH, Text("I found nothing."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    output = tool_message(model.requests[-1])["content"]
    assert output == "No files are available to search in this conversation."
    assert model.requests[-2]["messages"][-1] == {"role": "user", "content": "Trees?"}
