"""The seed flows on the embedded model, offline: how often they work, not how fast.

    python bench/seed_flows.py [--n 10] [--docs] [--temperature T] [--env NAME=VALUE ...]

Starts `assistantd serve` with no upstream variables (the embedded SmolLM2-135M serves every
run, the local embedding model ingests), then runs, `--n` times each, with the real SDK:

1. the seed's document Q&A program (the second seed document, "File Search: Document Q&A"): an
   assistant with file_search, a vector store filled with `upload_and_poll`, the store attached
   with `assistants.update`, a thread with the user's question, `create_and_poll`. With
   `--docs` the runs cycle through five documents with one distinctive fact each instead of
   the seed's Q4 report alone.
2. the seed's function-calling program: an assistant with a `get_weather(city)` function, the
   run's `requires_action`, `submit_tool_outputs_and_poll` with a forecast.

Printed per flow: runs completed; for Q&A, runs with a valid citation (an annotation whose
offsets cover its marker text in the answer, whose file id is the uploaded file, and whose
result, read back with `include[]`, is a passage found in that file) and runs whose answer has
the fact; for functions, runs that reached `requires_action` with JSON arguments naming the
city; for both, runs whose answer is a whole sentence (prose ending in . ! or ? once the
markers are taken out). `--env` passes settings to the server (e.g. repetition penalties, to
compare them: `--env ASSISTANTD_EMBEDDED_REPEAT_PENALTY=1.0`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from openai import OpenAI

from processes import ServerProcess, serving

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
MARKERS = re.compile(r"\s*【[^】]*】")
QA_INSTRUCTIONS = (
    "You analyze uploaded documents and answer questions about their content. "
    "Always cite the specific section of the document that supports your answer. "
    "If the document does not contain the answer, say so explicitly."
)


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    question: str
    fact: str  # a word the answer should contain (case-insensitive)


SEED = Document(
    "q4_report.txt",
    "Q4 2025 Report\n\nRevenue grew 12 percent over the quarter, led by the services "
    "business.\n\nKey risk factors: supply chain delays in Asia and exposure to currency "
    "swings.\n\nThe board approved a dividend of 40 cents per share.",
    "What were the key risk factors mentioned in the Q4 report?",
    "supply chain",
)
DOCUMENTS = [
    SEED,
    Document(
        "marrow.txt",
        "Marrow Island notes. The Marrow Island lighthouse was designed by the engineer Clara "
        "Voss in 1887. Its lamp can be seen from 23 nautical miles away, and the tower is "
        "painted with red and white stripes.",
        "Who designed the Marrow Island lighthouse?",
        "Voss",
    ),
    Document(
        "handbook.txt",
        "Employee handbook, section 4. New employees receive 27 days of paid leave per year. "
        "Leave must be requested two weeks in advance through the HR portal.",
        "How many days of paid leave do new employees get?",
        "27",
    ),
    Document(
        "recipe.txt",
        "Grandma's saffron bread. Knead the dough for twelve minutes, then let it rise in a "
        "warm place. Bake at 190 degrees Celsius for 35 minutes until golden.",
        "At what temperature is the saffron bread baked?",
        "190",
    ),
    Document(
        "probe.txt",
        "Mission log. The Kestrel probe reached the moon Europa on 14 March 2031 after a "
        "journey of six years. It carried a drill designed to reach the ocean below the ice.",
        "When did the Kestrel probe reach Europa?",
        "2031",
    ),
]
WEATHER = {
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
CITIES = ["Paris", "Tokyo", "Lisbon", "Nairobi", "Toronto"]


def whole_sentence(text: str) -> bool:
    bare = MARKERS.sub("", text).strip()
    return bool(bare) and bare[0].isalnum() and bare[-1] in ".!?"


def squashed(text: str) -> str:
    return " ".join(text.split())


def document_qa(
    client: OpenAI, http: httpx.Client, doc: Document, temperature: float | None
) -> Counter[str]:
    """The seed program (its calls, in its order), then the checks. Returns what held."""
    held: Counter[str] = Counter()
    assistant = client.beta.assistants.create(
        name="Document Analyst",
        instructions=QA_INSTRUCTIONS,
        model="gpt-4o",
        tools=[{"type": "file_search"}],
    )
    vector_store = client.vector_stores.create(name="Company Docs")
    upload = io.BytesIO(doc.text.encode())
    upload.name = doc.name
    client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=vector_store.id, files=[upload]
    )
    file_ids = [f.id for f in client.vector_stores.files.list(vector_store.id).data]
    client.beta.assistants.update(
        assistant.id, tool_resources={"file_search": {"vector_store_ids": [vector_store.id]}}
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=doc.question)
    extra = {} if temperature is None else {"temperature": temperature}
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=100, **extra
    )
    held[f"status {run.status}"] += 1
    if run.status != "completed":
        print(f"    {doc.name}: {run.status} {run.last_error} {run.incomplete_details}")
        return held
    held["completed"] += 1
    latest = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    text = latest.content[0].text  # type: ignore[union-attr]
    value = text.value
    steps = http.get(
        f"threads/{thread.id}/runs/{run.id}/steps",
        params={"include[]": INCLUDE, "order": "asc"},
    ).json()["data"]
    results = [
        item["file_search"]["results"]
        for step in steps
        if step["type"] == "tool_calls"
        for item in step["step_details"]["tool_calls"]
        if item["type"] == "file_search"
    ]
    valid = bool(text.annotations)
    for note in text.annotations:
        cited = re.fullmatch(r"【(\d+):(\d+)†[^】]*】", note.text)
        in_text = 0 <= note.start_index < note.end_index <= len(value)
        covers = value[note.start_index : note.end_index] == note.text
        right_file = note.file_citation.file_id in file_ids  # type: ignore[union-attr]
        found = False
        if cited is not None and int(cited.group(1)) < len(results):
            ranked = results[int(cited.group(1))]
            rank = int(cited.group(2))
            if rank < len(ranked):
                passage = " ".join(part["text"] for part in ranked[rank]["content"])
                found = squashed(passage) in squashed(doc.text)
        valid = valid and in_text and covers and right_file and found
    held["valid citation"] += valid
    held["has the fact"] += doc.fact.lower() in value.lower()
    held["whole sentence"] += whole_sentence(value)
    print(f"    {doc.name}: {value!r}")
    return held


def function_calling(client: OpenAI, city: str, temperature: float | None) -> Counter[str]:
    held: Counter[str] = Counter()
    assistant = client.beta.assistants.create(
        name="Weather Agent",
        instructions="Use the tools to answer.",
        model="gpt-4o",
        tools=[WEATHER],  # type: ignore[list-item]
    )
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(
        thread_id=thread.id, role="user", content=f"What is the weather in {city} today?"
    )
    extra = {} if temperature is None else {"temperature": temperature}
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=100, **extra
    )
    if run.status != "requires_action" or run.required_action is None:
        print(f"    {city}: {run.status} {run.last_error} {run.incomplete_details}")
        return held
    outputs = []
    arguments_ok = True
    for call in run.required_action.submit_tool_outputs.tool_calls:
        try:
            arguments = json.loads(call.function.arguments)
        except ValueError:
            arguments = None
        named = isinstance(arguments, dict) and arguments.get("city", "").lower() == city.lower()
        arguments_ok = arguments_ok and call.function.name == "get_weather" and named
        forecast = {"city": city, "forecast": "sunny", "temperature_c": 24}
        outputs.append({"tool_call_id": call.id, "output": json.dumps(forecast)})
    held["requires_action, valid arguments"] += arguments_ok
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=outputs, poll_interval_ms=100
    )
    if run.status != "completed":
        print(f"    {city}: after outputs {run.status} {run.last_error} {run.incomplete_details}")
        return held
    held["completed"] += 1
    value = client.beta.threads.messages.list(thread_id=thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
    held["whole sentence"] += whole_sentence(value)
    print(f"    {city}: {arguments} -> {value!r}")
    return held


def report(name: str, n: int, held: Counter[str], keys: list[str], seconds: float) -> None:
    figures = ", ".join(f"{held[key]}/{n} {key}" for key in keys)
    print(f"{name}: {figures} ({seconds / n:.1f} s per run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10, help="runs of each flow")
    parser.add_argument("--docs", action="store_true", help="cycle through five documents")
    parser.add_argument("--temperature", type=float, default=None, help="default: the server's")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--only", choices=["qa", "functions"], default=None)
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)
    print(f"server settings: {extra_env or 'defaults'}; load average {os.getloadavg()[0]:.1f}")

    with (
        tempfile.TemporaryDirectory(prefix="bench-seeds-") as folder,
        serving(ServerProcess(Path(folder), env=extra_env)) as server,
    ):
        base_url = server.base_url
        client = OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=300)
        http = httpx.Client(
            base_url=base_url + "/", headers={"OpenAI-Beta": "assistants=v2"}, timeout=60
        )
        if args.only in (None, "qa"):
            held: Counter[str] = Counter()
            started = time.perf_counter()
            print("document Q&A:")
            for i in range(args.n):
                doc = DOCUMENTS[i % len(DOCUMENTS)] if args.docs else SEED
                held.update(document_qa(client, http, doc, args.temperature))
            keys = ["completed", "valid citation", "has the fact", "whole sentence"]
            report("document Q&A", args.n, held, keys, time.perf_counter() - started)
        if args.only in (None, "functions"):
            held = Counter()
            started = time.perf_counter()
            print("function calling:")
            for i in range(args.n):
                held.update(function_calling(client, CITIES[i % len(CITIES)], args.temperature))
            keys = ["requires_action, valid arguments", "completed", "whole sentence"]
            report("function calling", args.n, held, keys, time.perf_counter() - started)


if __name__ == "__main__":
    main()
