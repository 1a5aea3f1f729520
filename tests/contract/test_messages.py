"""Messages through the real SDK: content parts, attachments, filters, pagination, errors."""

from __future__ import annotations

import openai
import pytest

from tests.support.files import upload
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess


def test_create_from_string(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id, role="user", content="What is the capital of France?", metadata={"k": "v"}
    )
    assert message.id.startswith("msg_")
    assert message.object == "thread.message"
    assert message.thread_id == thread.id
    assert message.role == "user"
    assert message.status == "completed"
    assert message.completed_at == message.created_at
    assert message.incomplete_at is None
    assert message.incomplete_details is None
    assert message.assistant_id is None
    assert message.run_id is None
    assert message.attachments == []
    assert message.metadata == {"k": "v"}
    assert len(message.content) == 1
    text = message.content[0]
    assert text.type == "text"
    assert text.text.value == "What is the capital of France?"  # type: ignore[union-attr]
    assert text.text.annotations == []  # type: ignore[union-attr]
    fetched = client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.model_dump() == message.model_dump()


def test_create_from_parts_with_attachments(client: openai.OpenAI) -> None:
    data_id = upload(client, "data.csv", b"a,b\n1,2\n")
    image_id = upload(client, "cat.png", b"\x89PNG\r\n\x1a\n", purpose="vision")
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[
            {"type": "text", "text": "Describe these"},
            {"type": "image_file", "image_file": {"file_id": image_id, "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
        attachments=[
            {
                "file_id": data_id,
                "tools": [{"type": "code_interpreter"}, {"type": "file_search"}],
            }
        ],
    )
    kinds = [part.type for part in message.content]
    assert kinds == ["text", "image_file", "image_url"]
    assert message.content[1].image_file.file_id == image_id  # type: ignore[union-attr]
    assert message.content[1].image_file.detail == "high"  # type: ignore[union-attr]
    assert message.content[2].image_url.url == "https://example.com/cat.png"  # type: ignore[union-attr]
    assert message.content[2].image_url.detail == "auto"  # type: ignore[union-attr]
    assert message.attachments is not None
    assert message.attachments[0].file_id == data_id
    assert [t.type for t in message.attachments[0].tools or []] == [
        "code_interpreter",
        "file_search",
    ]


def test_assistant_role_message(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="assistant", content="Paris.")
    assert message.role == "assistant"
    assert message.assistant_id is None


def test_list_pagination_and_run_filter(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
        for i in range(5)
    ]
    page = client.beta.threads.messages.list(thread.id, limit=2)
    assert [m.id for m in page.data] == [ids[4], ids[3]]
    assert page.has_more is True
    assert [
        m.id for m in client.beta.threads.messages.list(thread.id, limit=2, after=ids[3]).data
    ] == [
        ids[2],
        ids[1],
    ]
    assert [
        m.id for m in client.beta.threads.messages.list(thread.id, order="asc", before=ids[3]).data
    ] == ids[:3]
    everything = [m.id for m in client.beta.threads.messages.list(thread.id, limit=2, order="asc")]
    assert everything == ids
    filtered = client.beta.threads.messages.list(thread.id, run_id="run_none")
    assert filtered.data == []
    assert filtered.has_more is False


def test_update_metadata_only(client: openai.OpenAI, server: ServerProcess) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread.id, role="user", content="hi")
    updated = client.beta.threads.messages.update(
        message.id, thread_id=thread.id, metadata={"x": "y"}
    )
    assert updated.metadata == {"x": "y"}
    assert updated.content == message.content
    with http(server) as api:
        response = api.post(
            f"threads/{thread.id}/messages/{message.id}", json={"content": "changed"}
        )
    assert response.status_code == 400
    assert error_of(response)["param"] == "content"
    assert (
        client.beta.threads.messages.retrieve(message.id, thread_id=thread.id).content
        == message.content
    )


def test_delete(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    keep = client.beta.threads.messages.create(thread.id, role="user", content="keep")
    drop = client.beta.threads.messages.create(thread.id, role="user", content="drop")
    deleted = client.beta.threads.messages.delete(drop.id, thread_id=thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (
        drop.id,
        "thread.message.deleted",
        True,
    )
    assert [m.id for m in client.beta.threads.messages.list(thread.id)] == [keep.id]
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.messages.retrieve(drop.id, thread_id=thread.id)
    assert sdk_error_message(info.value) == f"No message found with id '{drop.id}'."


def test_message_is_scoped_to_its_thread(client: openai.OpenAI) -> None:
    first = client.beta.threads.create()
    second = client.beta.threads.create()
    message = client.beta.threads.messages.create(first.id, role="user", content="hi")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=second.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.delete(message.id, thread_id=second.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.messages.retrieve(message.id, thread_id="thread_missing")
    assert "No thread found with id 'thread_missing'." in sdk_error_message(info.value)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.create("thread_missing", role="user", content="x")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"content": "x"}, "role"),
        ({"role": "system", "content": "x"}, "role"),
        ({"role": "user"}, "content"),
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": []}, "content"),
        ({"role": "user", "content": 42}, "content"),
        ({"role": "user", "content": "x" * 256_001}, "content"),
        ({"role": "user", "content": [{"type": "text"}]}, "content[0].text"),
        ({"role": "user", "content": [{"type": "audio", "audio": {}}]}, "content[0].type"),
        (
            {"role": "user", "content": [{"type": "image_file", "image_file": {}}]},
            "content[0].image_file.file_id",
        ),
        (
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
            },
            "content[0].image_url.url",
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x", "detail": "max"}}
                ],
            },
            "content[0].image_url.detail",
        ),
        (
            {"role": "user", "content": "x", "attachments": [{"file_id": "file-a"}]},
            "attachments[0].tools",
        ),
        (
            {
                "role": "user",
                "content": "x",
                "attachments": [{"file_id": "file-a", "tools": [{"type": "function"}]}],
            },
            "attachments[0].tools[0].type",
        ),
        (
            {"role": "user", "content": "x", "metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
        ),
        ({"role": "user", "content": "x", "file_ids": ["file-a"]}, "file_ids"),
    ],
)
def test_invalid_message_is_400_and_stores_nothing(
    server: ServerProcess, body: dict[str, object], param: str
) -> None:
    with http(server) as api:
        thread_id = api.post("threads", json={}).json()["id"]
        response = api.post(f"threads/{thread_id}/messages", json=body)
        listed = api.get(f"threads/{thread_id}/messages").json()
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"
    assert listed["data"] == []
