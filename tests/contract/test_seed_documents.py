"""The seed's document Q&A program (../shared/seeds/001_*.txt, "File Search: Document Q&A")
runs against assistantd. One change besides `base_url`: the seed's `client.beta.vector_stores`
is `client.vector_stores` in every SDK this project supports (1.66 moved it; same wire paths).
"""

from __future__ import annotations

from tests.contract.test_seeds import run_program
from tests.support.files import make_pdf
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

DOCUMENT_QA_PROGRAM = """
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
vector_store = client.vector_stores.create(name="Company Docs")

# Upload files to the vector store
with open("q4_report.pdf", "rb") as f:
    client.vector_stores.file_batches.upload_and_poll(
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
    annotation = latest.content[0].text.annotations[0]
    print(annotation.type, annotation.file_citation.file_id.startswith("file-"))
    print(latest.content[0].text.value[annotation.start_index:annotation.end_index])
"""

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
    assert output == [
        "Supply chain delays and currency swings 【0:0†q4_report.pdf】.",
        "file_citation True",
        "【0:0†q4_report.pdf】",
    ]
    excerpt = next(m for m in model.requests[-1]["messages"] if m["role"] == "tool")["content"]
    assert "Key risk factors: supply chain delays in Asia" in excerpt
