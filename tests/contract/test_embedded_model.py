"""With no upstream at all, runs are served by the embedded SmolLM2 model: the seed's thread/run
program end to end, and a function call constrained by the tool's schema.

One server, on SQLite only: the model is the slow part, and the database path it exercises is
the one every other contract test covers on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from jsonschema import Draft202012Validator

from tests.conftest import sdk_client
from tests.contract.test_seeds import THREADS_PROGRAM, run_program
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

POLL = {"poll_interval_ms": 50}
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_order_status",
        "description": "Look up the shipping status of an order by its id.",
        "parameters": ORDER_SCHEMA,
    },
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The support code strips every ASSISTANTD_* and OPENAI_* variable: no upstream at all.
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("embedded"),
        env={
            "ASSISTANTD_EMBEDDED_MAX_TOKENS": "48",
            "ASSISTANTD_POLL_AFTER_MS": "50",
            "ASSISTANTD_JOB_POLL_SECONDS": "0.2",
        },
    ).start()
    yield server
    server.stop()


def test_the_threads_seed_program_runs_on_the_embedded_model(embedded: ServerProcess) -> None:
    output = run_program(embedded, THREADS_PROGRAM).splitlines()
    assert output[0].startswith("Thread created: thread_")
    assert not any(line.startswith("Run failed") for line in output), output
    replies = [line for line in output if line.startswith("Assistant: ")]
    assert len(replies) == 1, output
    assert replies[0].removeprefix("Assistant: ").strip(), "the answer has text"
    assert output[-1] == "User: What is the capital of France?"


def test_a_forced_function_call_reaches_requires_action_then_completes(
    embedded: ServerProcess,
) -> None:
    client = sdk_client(embedded)
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="You are a support agent. Use the tools to answer.",
        tools=[ORDER_TOOL],  # type: ignore[list-item]
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Where is my order 42?"}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        tool_choice={"type": "function", "function": {"name": "get_order_status"}},
        temperature=0,
        max_completion_tokens=256,
        **POLL,
    )
    assert run.status == "requires_action", run.last_error
    assert run.required_action is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_order_status"
    arguments = json.loads(call.function.arguments)
    assert list(Draft202012Validator(ORDER_SCHEMA).iter_errors(arguments)) == []

    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[
            {"tool_call_id": call.id, "output": json.dumps({"status": "shipped on Monday"})}
        ],
        **POLL,
    )
    assert run.status == "completed", run.last_error
    assert run.usage is not None  # llama.cpp's counts, over both turns
    assert run.usage.prompt_tokens > 0
    assert run.usage.completion_tokens > 0
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.role == "assistant"
    assert message.content[0].text.value.strip()  # type: ignore[union-attr]


def test_models_list_the_embedded_model_and_the_aliases(embedded: ServerProcess) -> None:
    ids = [m.id for m in sdk_client(embedded).models.list().data]
    assert ids[0] == "smollm2-135m-instruct"
    assert {"gpt-4o", "gpt-4-1106-preview", "o3-mini"} <= set(ids)


def test_image_inputs_are_refused_by_the_embedded_route(embedded: ServerProcess) -> None:
    client: openai.OpenAI = sdk_client(embedded)
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, **POLL
    )
    assert run.status == "failed"
    assert run.last_error is not None
    assert "without image inputs" in run.last_error.message


def test_the_models_token_cap_is_reported_as_the_completion_budget(
    embedded: ServerProcess,
) -> None:
    """No budget on the run: the server's cap (48 tokens here) ends it, and says which."""
    client = sdk_client(embedded)
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Write a long story about a dragon and a king."}]
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, temperature=0, **POLL
    )
    assert run.status == "incomplete", run.last_error
    assert run.last_error is None
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None
    assert run.usage.completion_tokens == 48
