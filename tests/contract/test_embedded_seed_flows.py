"""The seed's document Q&A and function-calling flows, and the seed programs themselves, on the
embedded SmolLM2 model (no upstream):
the engine searches for the model, which answers citing the passage; a function call has valid
JSON arguments and the answer after its output is a whole sentence.

One server, on SQLite only, as in test_embedded_model.py. The figures over many runs are in
bench/seed_flows.py; these tests check one run of each (greedy, so they are repeatable)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import sdk_client
from tests.contract.test_seed_documents import DOCUMENT_QA_PROGRAM, REPORT
from tests.contract.test_seeds import FUNCTION_PROGRAM, THREADS_PROGRAM, run_program
from tests.support.files import make_pdf, upload
from tests.support.raw import http
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

POLL = {"poll_interval_ms": 50}
DOCUMENT = (
    "Marrow Island notes. The Marrow Island lighthouse was designed by the engineer Clara Voss "
    "in 1887. Its lamp can be seen from 23 nautical miles away, and the tower is painted with "
    "red and white stripes. The keeper's cottage now houses a small museum."
)
INSTRUCTIONS = (
    "You analyze uploaded documents and answer questions about their content. "
    "Always cite the specific section of the document that supports your answer. "
    "If the document does not contain the answer, say so explicitly."
)
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
MARKERS = re.compile(r"\s*【[^】]*】")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # No ASSISTANTD_* or OPENAI_* variables reach it: the embedded model, default settings.
    server = ServerProcess(
        data_dir=tmp_path_factory.mktemp("embedded-seeds"),
        env={"ASSISTANTD_POLL_AFTER_MS": "50", "ASSISTANTD_JOB_POLL_SECONDS": "0.2"},
    ).start()
    yield server
    server.stop()


def whole_sentence(text: str) -> bool:
    """Prose that ends a sentence once the citation markers are taken out."""
    bare = MARKERS.sub("", text).strip()
    return bool(bare) and bare[0].isalnum() and bare[-1] in ".!?"


def test_document_qa_completes_with_a_citation_of_the_file(embedded: ServerProcess) -> None:
    client = sdk_client(embedded)
    assistant = client.beta.assistants.create(
        name="Document Analyst",
        instructions=INSTRUCTIONS,
        model="gpt-4o",
        tools=[{"type": "file_search"}],
    )
    store = client.vector_stores.create(name="Company Docs")
    file_id = upload(client, "marrow.txt", DOCUMENT)
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[file_id], poll_interval_ms=100
    )
    assert batch.file_counts.completed == 1
    client.beta.assistants.update(
        assistant.id, tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="Who designed the Marrow Island lighthouse?"
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, temperature=0, **POLL
    )
    assert run.status == "completed", (run.last_error, run.incomplete_details)

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    assert [r.file_id for r in call.file_search.results or []] == [file_id]  # type: ignore[union-attr]

    message = client.beta.threads.messages.list(thread.id).data[0]
    text = message.content[0].text  # type: ignore[union-attr]
    assert MARKERS.sub("", text.value).strip(), "the answer has text besides its markers"
    assert text.annotations, text.value
    for note in text.annotations:
        assert note.type == "file_citation"
        assert note.file_citation.file_id == file_id  # type: ignore[union-attr]
        assert text.value[note.start_index : note.end_index] == note.text
        assert note.text == "【0:0†marrow.txt】"
    assert whole_sentence(text.value), text.value
    assert "Voss" in text.value, text.value


def test_a_function_call_then_a_whole_sentence(embedded: ServerProcess) -> None:
    client = sdk_client(embedded)
    assistant = client.beta.assistants.create(
        instructions="Use the tools to answer.", model="gpt-4o", tools=[WEATHER]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content="What is the weather in Paris today?"
    )
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, temperature=0, **POLL
    )
    assert run.status == "requires_action", (run.last_error, run.incomplete_details)
    assert run.required_action is not None
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert arguments == {"city": "Paris"}
    output = {"city": "Paris", "forecast": "sunny", "temperature_c": 24}
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": json.dumps(output)}],
        **POLL,
    )
    assert run.status == "completed", (run.last_error, run.incomplete_details)
    answer = client.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
    assert whole_sentence(answer), answer
    assert "sunny" in answer.lower(), answer


# --- the seed programs themselves, unchanged, on the embedded model --------------------------


def test_the_threads_seed_program_gets_an_answer(embedded: ServerProcess) -> None:
    output = run_program(embedded, THREADS_PROGRAM).splitlines()
    assert output[0].startswith("Thread created: thread_")
    assert output[-1] == "User: What is the capital of France?"
    (answer,) = output[1:-1]
    assert answer.startswith("Assistant: ")
    assert "Paris" in answer, answer


def test_the_function_calling_seed_program_completes(embedded: ServerProcess) -> None:
    status, *answer = run_program(embedded, FUNCTION_PROGRAM).splitlines()
    assert status == "completed"
    text = " ".join(answer)
    assert whole_sentence(text), text
    assert "shipped" in text.lower(), text


def test_the_document_seed_program_cites_the_report(embedded: ServerProcess) -> None:
    workdir = embedded.data_dir / "seed-document"
    workdir.mkdir(exist_ok=True)
    (workdir / "q4_report.pdf").write_bytes(make_pdf(REPORT))
    printed = run_program(embedded, DOCUMENT_QA_PROGRAM, cwd=workdir).strip()
    assert printed, "the run completed and printed its answer"
    client = sdk_client(embedded)
    with http(embedded) as raw:  # GET /threads (an extension): the newest is the program's
        thread = raw.get("threads", params={"limit": 1, "order": "desc"}).json()["data"][0]
    latest = client.beta.threads.messages.list(thread_id=thread["id"]).data[0]
    text = latest.content[0].text  # type: ignore[union-attr]
    assert text.value == printed
    assert text.annotations, text.value
    report_id = next(f.id for f in client.files.list() if f.filename == "q4_report.pdf")
    for note in text.annotations:
        assert note.type == "file_citation"
        assert note.file_citation.file_id == report_id  # type: ignore[union-attr]
        assert text.value[note.start_index : note.end_index] == note.text
    # What it says comes from the report: the cited sentence's words are the document's.
    cited = MARKERS.sub("", text.value).lower()
    assert "supply chain" in cited or "currency" in cited, text.value
