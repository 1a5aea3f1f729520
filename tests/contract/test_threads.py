"""Threads through the real SDK: atomic create with messages, updates, cascade delete, listing."""

from __future__ import annotations

import openai
import pytest

from tests.support.files import new_store, upload
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess


def test_create_with_initial_messages(client: openai.OpenAI) -> None:
    file_id = upload(client, "notes.txt", b"Some notes.")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this one?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
                "metadata": {"turn": "3"},
            },
        ],
        tool_resources={"code_interpreter": {"file_ids": [file_id]}},
        metadata={"user_id": "u-42"},
    )
    assert thread.id.startswith("thread_")
    assert thread.object == "thread"
    assert thread.metadata == {"user_id": "u-42"}
    assert thread.tool_resources is not None
    assert thread.tool_resources.code_interpreter is not None
    assert thread.tool_resources.code_interpreter.file_ids == [file_id]

    listed = client.beta.threads.messages.list(thread.id, order="asc")
    assert [m.role for m in listed.data] == ["user", "assistant", "user"]
    assert listed.data[0].content[0].text.value == "What is the capital of France?"  # type: ignore[union-attr]
    assert listed.data[2].metadata == {"turn": "3"}
    assert [part.type for part in listed.data[2].content] == ["text", "image_url"]
    assert all(m.thread_id == thread.id for m in listed.data)
    assert all(m.created_at == thread.created_at for m in listed.data)


def test_empty_create_and_retrieve(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    fetched = client.beta.threads.retrieve(thread.id)
    assert fetched.model_dump() == thread.model_dump()
    assert fetched.metadata == {}
    assert client.beta.threads.messages.list(thread.id).data == []


def test_a_bad_initial_message_stores_nothing(server: ServerProcess) -> None:
    with http(server) as api:
        before = api.get("threads", params={"limit": 1}).json()["first_id"]
        response = api.post(
            "threads",
            json={
                "messages": [
                    {"role": "user", "content": "fine"},
                    {"role": "system", "content": "x"},
                ]
            },
        )
        after = api.get("threads", params={"limit": 1}).json()["first_id"]
    assert response.status_code == 400
    assert error_of(response)["param"] == "messages[1].role"
    assert before == after


def test_update_metadata_and_tool_resources(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"a": "1"})
    store_id = new_store(client)
    updated = client.beta.threads.update(
        thread.id,
        metadata={"b": "2"},
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    )
    assert updated.metadata == {"b": "2"}
    assert updated.tool_resources is not None
    assert updated.tool_resources.file_search is not None
    assert updated.tool_resources.file_search.vector_store_ids == [store_id]
    assert client.beta.threads.retrieve(thread.id).model_dump() == updated.model_dump()


def test_vector_store_helper_creates_a_store(client: openai.OpenAI) -> None:
    file_id = upload(client, "facts.txt", b"The tallest tree is a coast redwood.")
    thread = client.beta.threads.create(
        tool_resources={
            "file_search": {"vector_stores": [{"file_ids": [file_id], "metadata": {"k": "v"}}]}
        }
    )
    assert thread.tool_resources is not None
    assert thread.tool_resources.file_search is not None
    (store_id,) = thread.tool_resources.file_search.vector_store_ids or []
    store = client.vector_stores.retrieve(store_id)
    assert store.metadata == {"k": "v"}
    assert store.file_counts.total == 1
    assert [f.id for f in client.vector_stores.files.list(store_id)] == [file_id]


def test_unknown_ids_in_tool_resources_are_400(server: ServerProcess) -> None:
    with http(server) as api:
        helper = api.post(
            "threads",
            json={"tool_resources": {"file_search": {"vector_stores": [{"file_ids": ["file-a"]}]}}},
        )
        store = api.post(
            "threads", json={"tool_resources": {"file_search": {"vector_store_ids": ["vs_nope"]}}}
        )
        code = api.post(
            "threads", json={"tool_resources": {"code_interpreter": {"file_ids": ["file-nope"]}}}
        )
    assert helper.status_code == 400
    assert error_of(helper)["param"] == "tool_resources.file_search.vector_stores[0].file_ids[0]"
    assert store.status_code == 400
    assert error_of(store)["param"] == "tool_resources.file_search.vector_store_ids[0]"
    assert code.status_code == 400
    assert error_of(code)["param"] == "tool_resources.code_interpreter.file_ids[0]"


def test_delete_cascades_to_messages(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    message = client.beta.threads.messages.list(thread.id).data[0]
    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.retrieve(thread.id)
    assert sdk_error_message(info.value) == f"No thread found with id '{thread.id}'."
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.list(thread.id)


def test_list_threads_by_metadata(server: ServerProcess) -> None:
    from tests.conftest import sdk_client

    client = sdk_client(server)
    mine = [
        client.beta.threads.create(metadata={"owner": "alice-7", "n": str(i)}).id for i in range(3)
    ]
    client.beta.threads.create(metadata={"owner": "bob-7"})
    with http(server) as api:
        page = api.get("threads", params={"metadata[owner]": "alice-7", "limit": 2}).json()
        assert page["object"] == "list"
        assert [t["id"] for t in page["data"]] == [mine[2], mine[1]]
        assert page["has_more"] is True
        rest = api.get(
            "threads", params={"metadata[owner]": "alice-7", "after": page["last_id"]}
        ).json()
        assert [t["id"] for t in rest["data"]] == [mine[0]]
        assert rest["has_more"] is False
        both = api.get("threads", params={"metadata[owner]": "alice-7", "metadata[n]": "1"}).json()
        assert [t["id"] for t in both["data"]] == [mine[1]]
        none = api.get("threads", params={"metadata[owner]": "nobody"}).json()
        assert none == {
            "object": "list",
            "data": [],
            "first_id": None,
            "last_id": None,
            "has_more": False,
        }
        oldest = api.get("threads", params={"metadata[owner]": "alice-7", "order": "asc"}).json()
        assert [t["id"] for t in oldest["data"]] == mine
