"""NUL characters that do not come from a request: a model's answer, a tool call's arguments, a
sandbox's output, an ingested file's text. Requests with NUL are refused (`test_bad_input`);
these cannot be refused, so both databases store U+FFFD in their place (PostgreSQL used to fail
the run or the file with a server error, while SQLite stored the NUL)."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai import AssistantEventHandler

from tests.support.files import upload, wait_for_store
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 20}
LOOKUP = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


def thread_and_assistant(client: openai.OpenAI, **assistant: Any) -> tuple[str, str]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go."}])
    made = client.beta.assistants.create(model="gpt-4o", **assistant)
    return thread.id, made.id


class TextRecorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[str] = []

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.deltas.append(delta.value or "")


def test_a_nul_in_the_models_answer_is_stored_as_a_replacement_character(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    thread_id, assistant_id = thread_and_assistant(client)
    model.push(Text("before\x00after", chunk_size=3))
    recorder = TextRecorder()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=recorder
    ) as stream:
        stream.until_done()
    run = stream.current_run
    assert run is not None
    assert run.status == "completed", run.last_error
    (message,) = client.beta.threads.messages.list(thread_id, run_id=run.id).data
    assert message.status == "completed"
    assert message.content[0].text.value == "before\ufffdafter"  # type: ignore[union-attr]
    # What streamed is what was stored.
    assert "".join(recorder.deltas) == "before\ufffdafter"


def test_a_nul_in_tool_call_arguments_reaches_the_client_replaced(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    thread_id, assistant_id = thread_and_assistant(client, tools=[LOOKUP])
    model.push(ToolCalls([("lookup", '{"q": "a\x00b"}')]))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "requires_action", run.last_error
    assert run.required_action is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.arguments == '{"q": "a\ufffdb"}'


def test_a_nul_in_the_sandboxs_output_is_stored_as_a_replacement_character(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    thread_id, assistant_id = thread_and_assistant(client, tools=[{"type": "code_interpreter"}])
    code = "print('x' + chr(0) + 'y')"
    model.push(ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text("Done."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    (logs,) = call.code_interpreter.outputs  # type: ignore[union-attr]
    assert logs.logs == "x\ufffdy\n"  # type: ignore[union-attr]
    told = [m for m in model.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert told.startswith("x\ufffdy")


def test_a_nul_decoded_from_the_code_argument_is_stored_replaced(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    """`\\u0000` inside the JSON arguments decodes to a NUL in the call's `input`."""
    thread_id, assistant_id = thread_and_assistant(client, tools=[{"type": "code_interpreter"}])
    model.push(ToolCalls([("code_interpreter", '{"code": "1\\u0000"}')]), Text("Done."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.code_interpreter.input == "1\ufffd"  # type: ignore[union-attr]


def test_a_nul_deep_in_a_text_file_is_stored_as_a_replacement_character(
    client: openai.OpenAI,
) -> None:
    """Only the first 64 KiB are sniffed for binary content; a NUL further on is text's."""
    head = "The quick brown fox jumps over the lazy dog.\n" * 2000  # ~90 KB
    file_id = upload(client, "late-nul.txt", head + "needle\x00haystack\n")
    store = client.vector_stores.create(name="nul", file_ids=[file_id])
    done = wait_for_store(client, store.id)
    assert (done.file_counts.completed, done.file_counts.failed) == (1, 0)
    raw = client.vector_stores.files.with_raw_response.content(file_id, vector_store_id=store.id)
    joined = "".join(part["text"] for part in raw.http_response.json()["data"])
    assert "needle\ufffdhaystack" in joined
    assert "\x00" not in joined
