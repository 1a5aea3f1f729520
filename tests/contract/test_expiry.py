"""Expiry of files and vector stores: the server is restarted with its clock moved forward
(`ASSISTANTD_CLOCK_OFFSET_SECONDS`), on the same database."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.raw import error_of, http
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

DAY = 86_400


def wait_ingested(client: openai.OpenAI, store_id: str) -> None:
    deadline = time.monotonic() + 60
    while client.vector_stores.retrieve(store_id).file_counts.in_progress:
        assert time.monotonic() < deadline, "ingestion did not finish"
        time.sleep(0.05)


@pytest.mark.slow
def test_files_and_stores_expire(make_server: ServerFactory, model: ScriptedUpstream) -> None:
    server = make_server().start()
    client = sdk_client(server)
    doc = client.files.create(file=("trees.txt", b"Redwoods are tall trees."), purpose="assistants")
    short = client.files.create(
        file=("short.txt", b"This file lives one hour."),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    assert short.expires_at == short.created_at + 3600
    store = client.vector_stores.create(
        name="daily", file_ids=[doc.id], expires_after={"anchor": "last_active_at", "days": 1}
    )
    lasting = client.vector_stores.create(name="lasting", file_ids=[doc.id])
    assert store.expires_at == store.last_active_at + DAY  # type: ignore[operator]
    wait_ingested(client, store.id)
    wait_ingested(client, lasting.id)
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    server.stop()

    server.env["ASSISTANTD_CLOCK_OFFSET_SECONDS"] = str(2 * DAY)
    server.start()
    client = sdk_client(server)
    expired = client.vector_stores.retrieve(store.id)
    assert expired.status == "expired"
    assert client.vector_stores.retrieve(lasting.id).status == "completed"
    with http(server) as api:
        response = api.post(f"vector_stores/{store.id}/search", json={"query": "trees"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "vector_store_expired"
    # A run does not search an expired store: the model hears there is nothing to search.
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Trees?"}])
    model.push(ToolCalls([("file_search", '{"queries": ["trees"]}')]), Text("Nothing."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=20
    )
    assert run.status == "completed"
    tool = next(m for m in model.requests[-1]["messages"] if m["role"] == "tool")
    assert tool["content"] == "No files are available to search in this conversation."
    # The file past its expires_at is gone at once, and the sweeper deletes it for good.
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(short.id)
    assert short.id not in [f.id for f in client.files.list()]
    assert client.files.retrieve(doc.id).id == doc.id
    time.sleep(0.5)  # several sweeper passes (ASSISTANTD_JOB_POLL_SECONDS is 0.2 in tests)
    server.stop()
    server.env.pop("ASSISTANTD_CLOCK_OFFSET_SECONDS")
    server.start()
    with pytest.raises(openai.NotFoundError):
        sdk_client(server).files.retrieve(short.id)


def test_activity_moves_the_expiry(make_server: ServerFactory) -> None:
    server = make_server().start()
    client = sdk_client(server)
    store = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 3})
    server.stop()
    server.env["ASSISTANTD_CLOCK_OFFSET_SECONDS"] = str(DAY)
    server.start()
    client = sdk_client(server)
    client.vector_stores.search(store.id, query="anything")
    moved = client.vector_stores.retrieve(store.id)
    assert moved.last_active_at is not None
    assert moved.last_active_at >= store.last_active_at + DAY  # type: ignore[operator]
    assert moved.expires_at == moved.last_active_at + 3 * DAY
    assert moved.status == "completed"
    cleared = client.vector_stores.update(store.id, expires_after=None)
    assert (cleared.expires_after, cleared.expires_at) == (None, None)
