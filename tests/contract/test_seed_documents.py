"""The seed's document Q&A program ("File Search: Document Q&A" in the second seed document)
runs against assistantd with only `base_url` and a key changed (both from the environment).
The seed calls `client.beta.vector_stores`, which SDKs before 1.66 have (1.65.5 is tested):
there it runs verbatim. Newer SDKs moved it to `client.vector_stores` (same wire paths), so
on them that one name is the only change. What the answer cites is checked through the API
afterwards, so the program itself stays the seed's.
"""

from __future__ import annotations

import openai

from tests.conftest import sdk_client
from tests.contract.test_seeds import run_program
from tests.support.files import make_pdf
from tests.support.raw import http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

SEED_PROGRAM = """
from openai import OpenAI

client = OpenAI()

assistant = client.beta.assistants.create(
    name="Document Analyst",
    instructions=(
        "You analyze uploaded documents and answer questions about their content. "
        "Always cite the specific section of the document that supports your answer. "
        "If the document does not contain the answer, say so explicitly."
    ),
    model="gpt-4o",
    tools=[{"type": "file_search"}]
)

assistant_id = assistant.id  # Store this — reuse the assistant, don't recreate

# Create a vector store
vector_store = client.beta.vector_stores.create(name="Company Docs")

# Upload files to the vector store
with open("q4_report.pdf", "rb") as f:
    client.beta.vector_stores.file_batches.upload_and_poll(
        vector_store_id=vector_store.id,
        files=[f]
    )

# Attach vector store to the assistant
client.beta.assistants.update(
    assistant.id,
    tool_resources={"file_search": {"vector_store_ids": [vector_store.id]}}
)

# Create a thread for this user session
thread = client.beta.threads.create()

# Add the user's message
client.beta.threads.messages.create(
    thread_id=thread.id,
    role="user",
    content="What were the key risk factors mentioned in the Q4 report?"
)

# Run the assistant against the thread
run = client.beta.threads.runs.create_and_poll(
    thread_id=thread.id,
    assistant_id=assistant.id
)

# Get the response when complete
if run.status == "completed":
    messages = client.beta.threads.messages.list(thread_id=thread.id)
    latest = messages.data[0]  # most recent message
    print(latest.content[0].text.value)
"""

# The seed's code on SDKs that no longer have `client.beta.vector_stores`.
DOCUMENT_QA_PROGRAM = (
    SEED_PROGRAM
    if hasattr(openai.resources.beta.Beta, "vector_stores")
    else SEED_PROGRAM.replace("client.beta.vector_stores", "client.vector_stores")
)

REPORT = [
    "Q4 2025 Report",
    "Revenue grew 12 percent over the quarter.",
    "Key risk factors: supply chain delays in Asia and exposure to currency swings.",
]


def test_document_qa_seed_program(server: ServerProcess, model: ScriptedUpstream) -> None:
    model.push(
        ToolCalls([("file_search", '{"queries": ["key risk factors Q4 report"]}')]),
        Text("Supply chain delays and currency swings 【0:0†q4_report.pdf】."),
    )
    workdir = server.data_dir / "seed-program"
    workdir.mkdir(exist_ok=True)
    (workdir / "q4_report.pdf").write_bytes(make_pdf(REPORT))
    output = run_program(server, DOCUMENT_QA_PROGRAM, cwd=workdir).splitlines()
    answer = "Supply chain delays and currency swings 【0:0†q4_report.pdf】."
    assert output == [answer]
    # The answer the program printed cites the uploaded report at the marker.
    with http(server) as raw:  # GET /threads (an extension): the newest is the program's
        thread = raw.get("threads", params={"limit": 1, "order": "desc"}).json()["data"][0]
    client = sdk_client(server)
    latest = client.beta.threads.messages.list(thread_id=thread["id"]).data[0]
    text = latest.content[0].text  # type: ignore[union-attr]
    assert text.value == answer
    (annotation,) = text.annotations
    assert annotation.type == "file_citation"
    assert text.value[annotation.start_index : annotation.end_index] == "【0:0†q4_report.pdf】"
    cited = client.files.retrieve(annotation.file_citation.file_id)  # type: ignore[union-attr]
    assert cited.filename == "q4_report.pdf"
    excerpt = next(m for m in model.requests[-1]["messages"] if m["role"] == "tool")["content"]
    assert "Key risk factors: supply chain delays in Asia" in excerpt
