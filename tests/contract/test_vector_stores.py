"""Vector stores and the files in them, through the real SDK: create/read/list/update/delete,
attaching (with the SDK's polling helpers), chunking, attributes, content pages, ingestion
of good and bad documents (text, PDF, DOCX), and request validation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.support.files import (
    POLL_MS,
    assert_list,
    assert_object,
    assert_store,
    body,
    docx_with_bad_content_types,
    docx_with_bad_deflate,
    docx_with_unknown_compression,
    make_docx,
    make_pdf,
    pdf_text,
    pdf_with_aes_encryption,
    search_ids,
    store_file_ids,
    upload,
    wait_for_store,
)
from tests.support.openapi import assert_matches_schema
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess

DAY = 86_400
STATIC_100: Any = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
}
AUTO_RESOLVED = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}
LONG_TEXT = " ".join(
    f"Paragraph {i}: the lighthouse keeper logged the tide, the wind and the passing ships."
    for i in range(30)
)
JUNK = bytes((i * 37 + 11) % 256 for i in range(700)) + b"\x00\x00\x01\x02"


def vs_file(client: openai.OpenAI, store_id: str, file_id: str) -> dict[str, Any]:
    raw = client.vector_stores.files.with_raw_response.retrieve(file_id, vector_store_id=store_id)
    return body(raw)


def content_texts(client: openai.OpenAI, store_id: str, file_id: str) -> list[str]:
    raw = client.vector_stores.files.with_raw_response.content(file_id, vector_store_id=store_id)
    page = body(raw)
    assert_object(page, "VectorStoreFileContentResponse")
    assert page["object"] == "vector_store.file_content.page"
    assert (page["has_more"], page["next_page"]) == (False, None)
    assert all(part["type"] == "text" for part in page["data"])
    return [part["text"] for part in page["data"]]


# --- stores -------------------------------------------------------------------------------


def test_create_empty_store(client: openai.OpenAI) -> None:
    created = body(client.vector_stores.with_raw_response.create())
    assert_store(created)
    assert created["id"].startswith("vs_")
    assert created["object"] == "vector_store"
    assert created["name"] == ""
    assert created["usage_bytes"] == 0
    assert created["file_counts"] == {
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 0,
    }
    assert created["status"] == "completed"
    assert (created["expires_after"], created["expires_at"]) == (None, None)
    assert created["last_active_at"] == created["created_at"]
    assert created["metadata"] == {}
    fetched = body(client.vector_stores.with_raw_response.retrieve(created["id"]))
    assert fetched == created


def test_create_with_name_metadata_and_expiry(client: openai.OpenAI) -> None:
    created = client.vector_stores.create(
        name="Handbook",
        metadata={"team": "docs", "tier": "gold"},
        expires_after={"anchor": "last_active_at", "days": 3},
        extra_body={"description": "Company handbook"},
    )
    assert created.name == "Handbook"
    assert created.metadata == {"team": "docs", "tier": "gold"}
    assert created.expires_after is not None
    assert (created.expires_after.anchor, created.expires_after.days) == ("last_active_at", 3)
    assert created.last_active_at is not None
    assert created.expires_at == created.last_active_at + 3 * DAY
    assert created.status == "completed"
    assert client.vector_stores.retrieve(created.id).model_dump() == created.model_dump()
    assert_store(body(client.vector_stores.with_raw_response.retrieve(created.id)))


@pytest.mark.slow
def test_create_with_files_and_static_chunking(client: openai.OpenAI) -> None:
    long_id = upload(client, "log.txt", LONG_TEXT)
    created = body(
        client.vector_stores.with_raw_response.create(
            name="chunked", file_ids=[long_id], chunking_strategy=STATIC_100
        )
    )
    assert_store(created)
    assert created["status"] == "in_progress"
    assert created["file_counts"] == {
        "in_progress": 1,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 1,
    }
    assert created["usage_bytes"] == 0

    done = wait_for_store(client, created["id"])
    assert done.status == "completed"
    assert (done.file_counts.completed, done.file_counts.total) == (1, 1)
    assert done.usage_bytes > 0
    record = vs_file(client, created["id"], long_id)
    assert_object(record, "VectorStoreFileObject")
    assert record["status"] == "completed"
    assert record["last_error"] is None
    assert record["chunking_strategy"] == STATIC_100
    assert record["usage_bytes"] == done.usage_bytes
    texts = content_texts(client, created["id"], long_id)
    assert len(texts) > 3, "100-token chunks of a ~600-token text"
    assert "".join(texts) == LONG_TEXT, "no overlap: the chunks tile the text exactly"

    # No strategy given: auto, reported as its resolved static form.
    short = "The harbour master closes the gates at dusk."
    attached = client.vector_stores.files.create_and_poll(
        upload(client, "gates.txt", short), vector_store_id=created["id"], poll_interval_ms=POLL_MS
    )
    assert attached.chunking_strategy is not None
    assert attached.chunking_strategy.model_dump() == AUTO_RESOLVED
    assert content_texts(client, created["id"], attached.id) == [short]
    store = client.vector_stores.retrieve(created["id"])
    assert store.usage_bytes == done.usage_bytes + attached.usage_bytes
    assert (store.file_counts.completed, store.file_counts.total) == (2, 2)


def test_list_stores_with_cursors(client: openai.OpenAI) -> None:
    a, b, c = (client.vector_stores.create(name=name).id for name in ("a", "b", "c"))

    page = body(client.vector_stores.with_raw_response.list(limit=2))
    assert [s["id"] for s in page["data"]] == [c, b]
    assert page["has_more"] is True
    assert_list(page, "ListVectorStoresResponse", "VectorStoreObject")

    assert client.vector_stores.list(after=b, limit=2).data[0].id == a
    ascending = client.vector_stores.list(order="asc", after=a)
    assert [s.id for s in ascending.data] == [b, c]
    assert ascending.has_more is False
    assert [s.id for s in client.vector_stores.list(before=a).data] == [c, b]
    assert [s.id for s in client.vector_stores.list(order="asc", before=c).data][-2:] == [a, b]

    walked = [s.id for s in client.vector_stores.list(limit=2)]
    assert walked[:3] == [c, b, a]
    assert len(walked) == len(set(walked))

    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.list(after="vs_doesnotexist")
    assert info.value.param == "after"
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.list(limit=101)
    assert info.value.param == "limit"


def test_update_store(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="before", metadata={"a": "1", "b": "2"})

    renamed = client.vector_stores.update(store.id, name="after")
    assert (renamed.name, renamed.metadata) == ("after", {"a": "1", "b": "2"})
    remapped = client.vector_stores.update(store.id, metadata={"c": "3"})
    assert (remapped.name, remapped.metadata) == ("after", {"c": "3"}), "metadata is replaced"

    expiring = body(
        client.vector_stores.with_raw_response.update(
            store.id, expires_after={"anchor": "last_active_at", "days": 7}
        )
    )
    assert_store(expiring)
    assert expiring["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assert expiring["expires_at"] == expiring["last_active_at"] + 7 * DAY
    assert expiring["status"] == "completed"

    cleared = client.vector_stores.update(store.id, expires_after=None)
    assert (cleared.expires_after, cleared.expires_at) == (None, None)
    unnamed = client.vector_stores.update(store.id, name=None)
    assert unnamed.name == ""
    assert unnamed.metadata == {"c": "3"}
    assert client.vector_stores.retrieve(store.id).model_dump() == unnamed.model_dump()

    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.update(
            store.id,
            expires_after={"anchor": "last_active_at", "days": 0},
        )
    assert info.value.param == "expires_after.days"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.update("vs_doesnotexist", name="x")


def test_delete_store_keeps_its_files(client: openai.OpenAI) -> None:
    file_id = upload(client, "keep.txt", "Files outlive the stores they were in.")
    store = client.vector_stores.create(file_ids=[file_id])
    deleted = body(client.vector_stores.with_raw_response.delete(store.id))
    assert deleted == {"id": store.id, "object": "vector_store.deleted", "deleted": True}
    assert_matches_schema(deleted, "DeleteVectorStoreResponse")

    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.retrieve(store.id)
    assert sdk_error_message(info.value) == f"No vector store found with id '{store.id}'."
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.delete(store.id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.list(store.id)
    assert store.id not in {s.id for s in client.vector_stores.list(limit=100)}
    assert client.files.retrieve(file_id).filename == "keep.txt"
    assert client.files.content(file_id).content == b"Files outlive the stores they were in."


# --- files in a store ---------------------------------------------------------------------


@pytest.mark.slow
def test_polling_helpers_finish_ingestion(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="helpers")
    attributes = {"kind": "note", "rank": 2, "draft": False}
    note = upload(client, "note.txt", "Remember to rotate the backup tapes every Friday.")
    first = client.vector_stores.files.create_and_poll(
        note, vector_store_id=store.id, attributes=attributes, poll_interval_ms=POLL_MS
    )
    assert first.id == note
    assert first.object == "vector_store.file"
    assert first.vector_store_id == store.id
    assert first.status == "completed"
    assert first.last_error is None
    assert first.usage_bytes > 0
    assert first.attributes == attributes
    assert_object(vs_file(client, store.id, note), "VectorStoreFileObject")

    second = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id,
        file=("guide.md", b"# Guide\n\nThe tapes live in the fireproof safe."),
        poll_interval_ms=POLL_MS,
    )
    assert second.status == "completed"
    uploaded = client.files.retrieve(second.id)
    assert (uploaded.filename, uploaded.purpose) == ("guide.md", "assistants")

    done = client.vector_stores.retrieve(store.id)
    assert done.status == "completed"
    assert (done.file_counts.completed, done.file_counts.total) == (2, 2)
    assert done.usage_bytes == first.usage_bytes + second.usage_bytes


def test_new_attachment_starts_in_progress(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "fresh.txt", "A freshly attached file is processed in the background.")
    created = body(
        client.vector_stores.files.with_raw_response.create(
            vector_store_id=store.id, file_id=file_id
        )
    )
    assert_object(created, "VectorStoreFileObject")
    assert created["status"] == "in_progress"
    assert (created["usage_bytes"], created["last_error"], created["attributes"]) == (0, None, None)
    assert created["chunking_strategy"] == AUTO_RESOLVED
    final = client.vector_stores.files.poll(
        file_id, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert final.status == "completed"
    assert final.created_at == created["created_at"]


def test_attaching_twice_returns_the_same_record(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "twice.txt", "Attaching a file twice keeps one record.")
    first = client.vector_stores.files.create(
        vector_store_id=store.id, file_id=file_id, attributes={"v": 1}
    )
    second = client.vector_stores.files.create(
        vector_store_id=store.id,
        file_id=file_id,
        attributes={"v": 2},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100},
        },
    )
    assert (second.id, second.created_at) == (first.id, first.created_at)
    assert second.attributes == {"v": 1}
    assert second.chunking_strategy is not None
    assert second.chunking_strategy.model_dump() == AUTO_RESOLVED
    batch = client.vector_stores.file_batches.create(store.id, file_ids=[file_id])
    assert batch.file_counts.total == 1
    assert store_file_ids(client, store.id) == {file_id}
    assert client.vector_stores.retrieve(store.id).file_counts.total == 1


def _attach_at_once(server: ServerProcess, store_id: str, file_id: str, callers: int) -> list[Any]:
    """`callers` requests released together: odd ones attach the file, even ones batch it."""
    barrier = threading.Barrier(callers)

    def attach(index: int) -> Any:
        with http(server) as api:
            barrier.wait()
            if index % 2:
                return api.post(f"vector_stores/{store_id}/files", json={"file_id": file_id})
            return api.post(f"vector_stores/{store_id}/file_batches", json={"file_ids": [file_id]})

    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(attach, range(callers)))


@pytest.mark.slow
def test_concurrent_attaches_of_one_file(client: openai.OpenAI, server: ServerProcess) -> None:
    """Attaching is idempotent even when the same file arrives at once from many clients
    (a file create or a batch each): one record, every caller answered 200."""
    callers = 12
    for _ in range(4):
        file_id = upload(client, "race.txt", "Many clients attach this file at the same moment.")
        store = client.vector_stores.create()
        responses = _attach_at_once(server, store.id, file_id, callers)
        failures = [r.text[:200] for r in responses if r.status_code != 200]
        assert failures == [], failures
        records = [r.json() for r in responses[1::2]]
        assert len({(r["id"], r["created_at"]) for r in records}) == 1
        assert client.vector_stores.retrieve(store.id).file_counts.total == 1


@pytest.mark.slow
def test_list_filter_update_and_detach(client: openai.OpenAI) -> None:
    ferry = upload(client, "ferry.txt", "The island ferry timetable changes in October.")
    train = upload(client, "train.txt", "The coastal train timetable changes in October too.")
    broken = upload(client, "broken.txt", b"")
    store = client.vector_stores.create(file_ids=[ferry, train, broken])
    done = wait_for_store(client, store.id)
    counts = done.file_counts
    assert (counts.completed, counts.failed, counts.total) == (2, 1, 3)

    assert store_file_ids(client, store.id, filter="completed") == {ferry, train}
    assert store_file_ids(client, store.id, filter="failed") == {broken}
    assert store_file_ids(client, store.id, filter="in_progress") == set()
    assert store_file_ids(client, store.id, filter="cancelled") == set()
    page = body(client.vector_stores.files.with_raw_response.list(store.id, limit=2))
    assert page["has_more"] is True
    assert [f["id"] for f in page["data"]] == [broken, train]
    assert_list(page, "ListVectorStoreFilesResponse", "VectorStoreFileObject")
    ascending = client.vector_stores.files.list(store.id, order="asc", after=ferry)
    assert [f.id for f in ascending.data] == [train, broken]
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.list(store.id, filter="done")  # type: ignore[arg-type]
    assert info.value.param == "filter"

    attributes = {"line": "ferry", "n": 3, "weekly": True}
    updated = body(
        client.vector_stores.files.with_raw_response.update(
            ferry, vector_store_id=store.id, attributes=attributes
        )
    )
    assert_object(updated, "VectorStoreFileObject")
    assert updated["attributes"] == attributes
    assert client.vector_stores.files.retrieve(ferry, vector_store_id=store.id).attributes == (
        attributes
    )
    by_line: Any = {"type": "eq", "key": "line", "value": "ferry"}
    assert search_ids(client, store.id, "timetable October", filters=by_line) == [ferry]
    cleared = client.vector_stores.files.update(ferry, vector_store_id=store.id, attributes=None)
    assert cleared.attributes is None
    assert search_ids(client, store.id, "timetable October", filters=by_line) == []

    usage_before = client.vector_stores.retrieve(store.id).usage_bytes
    deleted = body(
        client.vector_stores.files.with_raw_response.delete(ferry, vector_store_id=store.id)
    )
    assert deleted == {"id": ferry, "object": "vector_store.file.deleted", "deleted": True}
    assert_matches_schema(deleted, "DeleteVectorStoreFileResponse")
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.files.retrieve(ferry, vector_store_id=store.id)
    assert sdk_error_message(info.value) == f"No vector store file found with id '{ferry}'."
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.delete(ferry, vector_store_id=store.id)
    assert client.files.retrieve(ferry).id == ferry, "detaching does not delete the file"
    assert store_file_ids(client, store.id) == {train, broken}
    after = client.vector_stores.retrieve(store.id)
    assert (after.file_counts.completed, after.file_counts.total) == (1, 2)
    assert after.usage_bytes < usage_before
    assert ferry not in search_ids(client, store.id, "island ferry timetable")
    listed = {s.id: s for s in client.vector_stores.list(limit=100)}
    assert listed[store.id].file_counts == after.file_counts

    # Attached again: a new record, ingested again, searchable again.
    again = client.vector_stores.files.create_and_poll(
        ferry, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert again.status == "completed"
    assert again.attributes is None
    assert search_ids(client, store.id, "island ferry timetable")[0] == ferry
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 2


@pytest.mark.slow
def test_bad_documents_fail_with_a_reason(client: openai.OpenAI) -> None:
    expected = {
        "empty.txt": (b"", "invalid_file"),
        "blank.md": (b"  \n\t \n", "invalid_file"),
        "x.bin": (JUNK, "unsupported_file"),
        "noext": (JUNK, "unsupported_file"),
        "zero.pdf": (b"", "invalid_file"),
        "garbage.pdf": (b"%PDF-1.4\n" + JUNK, "invalid_file"),
        "broken.docx": (b"PK\x03\x04" + JUNK, "invalid_file"),
    }
    ids = {name: upload(client, name, data) for name, (data, _) in expected.items()}
    good = upload(client, "good.txt", "Only this document has any text worth indexing.")
    store = client.vector_stores.create(name="bad inputs")
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=[*ids.values(), good], poll_interval_ms=POLL_MS
    )
    assert batch.status == "completed"
    counts = batch.file_counts
    assert (counts.in_progress, counts.completed, counts.failed, counts.total) == (0, 1, 7, 8)

    for name, (_, code) in expected.items():
        record = vs_file(client, store.id, ids[name])
        assert_object(record, "VectorStoreFileObject")
        assert record["status"] == "failed", name
        assert record["last_error"]["code"] == code, (name, record["last_error"])
        assert name in record["last_error"]["message"]
        assert record["usage_bytes"] == 0
        assert content_texts(client, store.id, ids[name]) == []
    done = client.vector_stores.retrieve(store.id)
    assert done.status == "completed"
    assert (done.file_counts.failed, done.file_counts.completed) == (7, 1)
    assert search_ids(client, store.id, "document text worth indexing") == [good]


@pytest.mark.slow
def test_damaged_documents_fail_at_once(client: openai.OpenAI) -> None:
    damaged = {
        "deflate.docx": docx_with_bad_deflate(),
        "method.docx": docx_with_unknown_compression(),
        "parts.docx": docx_with_bad_content_types(),
        "aes.pdf": pdf_with_aes_encryption(),
    }
    ids = {name: upload(client, name, data) for name, data in damaged.items()}
    store = client.vector_stores.create(file_ids=list(ids.values()))
    deadline = time.monotonic() + 8
    while client.vector_stores.retrieve(store.id).file_counts.in_progress:
        assert time.monotonic() < deadline, "damaged documents must not keep a store busy"
        time.sleep(0.1)
    for name, file_id in ids.items():
        record = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
        assert record.status == "failed", name
        assert record.last_error is not None
        assert record.last_error.code == "invalid_file", (name, record.last_error)


@pytest.mark.slow
def test_failure_messages_do_not_reveal_server_paths(
    client: openai.OpenAI, server: ServerProcess
) -> None:
    store = client.vector_stores.create()
    broken = upload(client, "broken.docx", b"PK\x03\x04" + JUNK)
    record = client.vector_stores.files.create_and_poll(
        broken, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert record.status == "failed"
    assert record.last_error is not None
    message = record.last_error.message
    assert str(server.data_dir) not in message
    assert "/files/" not in message, message


@pytest.mark.slow
def test_pdf_and_docx_are_read_and_searchable(client: openai.OpenAI) -> None:
    pdf_lines = [
        "Turbine blades creep slowly at high temperature.",
        "Inspect the hot section of the jet engine every 400 hours.",
    ]
    pdf = make_pdf(pdf_lines)
    assert pdf_text(pdf).split("\n")[:2] == pdf_lines, "the hand-made PDF must be valid"
    paragraphs = [
        "A sourdough starter needs flour and water every day.",
        "Bake the loaf in a hot Dutch oven for forty minutes.",
    ]
    document = make_docx(paragraphs)
    store = client.vector_stores.create(name="documents")
    pdf_file = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("engine.pdf", pdf), poll_interval_ms=POLL_MS
    )
    docx_file = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("bread.docx", document), poll_interval_ms=POLL_MS
    )
    assert (pdf_file.status, docx_file.status) == ("completed", "completed")
    pdf_content = "".join(content_texts(client, store.id, pdf_file.id))
    assert [line.strip() for line in pdf_content.splitlines()] == pdf_lines
    assert "".join(content_texts(client, store.id, docx_file.id)) == "\n".join(paragraphs)
    assert search_ids(client, store.id, "turbine blade creep")[0] == pdf_file.id
    assert search_ids(client, store.id, "feeding a sourdough starter")[0] == docx_file.id


# --- validation ---------------------------------------------------------------------------

CHUNKING_ERRORS: dict[str, tuple[Any, str]] = {
    "max too small": (
        {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}},
        "chunking_strategy.static.max_chunk_size_tokens",
    ),
    "max too large": (
        {"type": "static", "static": {"max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}},
        "chunking_strategy.static.max_chunk_size_tokens",
    ),
    "negative overlap": (
        {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": -1}},
        "chunking_strategy.static.chunk_overlap_tokens",
    ),
    "overlap missing": (
        {"type": "static", "static": {"max_chunk_size_tokens": 200}},
        "chunking_strategy.static.chunk_overlap_tokens",
    ),
    "static missing": ({"type": "static"}, "chunking_strategy.static"),
    "unknown type": ({"type": "semantic"}, "chunking_strategy.type"),
    "auto with extras": (
        {"type": "auto", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 0}},
        "chunking_strategy.static",
    ),
}
OVERLAP_OVER_HALF: Any = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 51},
}


def _chunking_targets(api: Any, store_id: str, file_id: str) -> dict[str, Any]:
    """The three places a chunking strategy is accepted, as request makers."""
    return {
        "store": lambda cs: api.post(
            "vector_stores", json={"file_ids": [file_id], "chunking_strategy": cs}
        ),
        "file": lambda cs: api.post(
            f"vector_stores/{store_id}/files", json={"file_id": file_id, "chunking_strategy": cs}
        ),
        "batch": lambda cs: api.post(
            f"vector_stores/{store_id}/file_batches",
            json={"file_ids": [file_id], "chunking_strategy": cs},
        ),
    }


@pytest.mark.parametrize("case", CHUNKING_ERRORS.values(), ids=CHUNKING_ERRORS.keys())
def test_bad_chunking_strategies(
    client: openai.OpenAI, server: ServerProcess, case: tuple[Any, str]
) -> None:
    strategy, param = case
    store = client.vector_stores.create()
    file_id = upload(client, "c.txt", "chunk me")
    with http(server) as api:
        for target, send in _chunking_targets(api, store.id, file_id).items():
            response = send(strategy)
            assert response.status_code == 400, (target, response.text)
            error = error_of(response)
            assert error["type"] == "invalid_request_error"
            assert error["param"] == param, (target, error)
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


def test_overlap_over_half_is_refused(client: openai.OpenAI, server: ServerProcess) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "c.txt", "chunk me")
    with http(server) as api:
        for target, send in _chunking_targets(api, store.id, file_id).items():
            response = send(OVERLAP_OVER_HALF)
            assert response.status_code == 400, target
            assert "half of max_chunk_size_tokens" in error_of(response)["message"]
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0
    # The edge itself is allowed.
    edge: Any = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
    }
    record = client.vector_stores.files.create(
        vector_store_id=store.id, file_id=file_id, chunking_strategy=edge
    )
    assert record.chunking_strategy is not None
    assert record.chunking_strategy.model_dump() == edge


def test_overlap_over_half_names_the_overlap(client: openai.OpenAI, server: ServerProcess) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "c.txt", "chunk me")
    with http(server) as api:
        for target, send in _chunking_targets(api, store.id, file_id).items():
            error = error_of(send(OVERLAP_OVER_HALF))
            assert error["param"] == "chunking_strategy.static.chunk_overlap_tokens", (
                target,
                error,
            )
            assert "'chunking_strategy.static.static'" not in error["message"]


def test_chunking_without_type_names_the_type(server: ServerProcess) -> None:
    with http(server) as api:
        response = api.post("vector_stores", json={"chunking_strategy": {"static": {}}})
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "Missing required parameter: 'chunking_strategy.type'."
    assert error["param"] == "chunking_strategy.type"
    assert error["code"] == "missing_required_parameter"


def _attributes(count: int) -> dict[str, Any]:
    return {f"key{i}": i for i in range(count)}


ATTRIBUTE_ERRORS: dict[str, tuple[Any, str]] = {
    "17 keys": (_attributes(17), "attributes"),
    "long key": ({"k" * 65: "v"}, "attributes"),
    "long value": ({"k": "v" * 513}, "attributes.k"),
    "object value": ({"k": {"nested": 1}}, "attributes.k"),
    "list value": ({"k": [1, 2]}, "attributes.k"),
    "null value": ({"k": None}, "attributes.k"),
    "not an object": ("colour=red", "attributes"),
}


@pytest.mark.parametrize("case", ATTRIBUTE_ERRORS.values(), ids=ATTRIBUTE_ERRORS.keys())
def test_bad_attributes(
    client: openai.OpenAI, server: ServerProcess, case: tuple[Any, str]
) -> None:
    attributes, param = case
    store = client.vector_stores.create()
    file_id = upload(client, "a.txt", "attributes")
    with http(server) as api:
        attach = api.post(
            f"vector_stores/{store.id}/files", json={"file_id": file_id, "attributes": attributes}
        )
        batch = api.post(
            f"vector_stores/{store.id}/file_batches",
            json={"file_ids": [file_id], "attributes": attributes},
        )
        per_file = api.post(
            f"vector_stores/{store.id}/file_batches",
            json={"files": [{"file_id": file_id, "attributes": attributes}]},
        )
        assert (
            api.post(f"vector_stores/{store.id}/files", json={"file_id": file_id}).status_code
            == 200
        )
        update = api.post(
            f"vector_stores/{store.id}/files/{file_id}", json={"attributes": attributes}
        )
    for response, prefix in ((attach, ""), (batch, ""), (per_file, "files[0]."), (update, "")):
        assert response.status_code == 400, response.text
        assert error_of(response)["param"] == prefix + param, response.text
    assert client.vector_stores.files.retrieve(file_id, vector_store_id=store.id).attributes is None


def test_sixteen_attributes_are_fine(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "a.txt", "sixteen")
    attributes = {**_attributes(15), "k" * 64: "v" * 512}
    record = client.vector_stores.files.create(
        vector_store_id=store.id, file_id=file_id, attributes=attributes
    )
    assert record.attributes == attributes


def test_update_needs_attributes(client: openai.OpenAI, server: ServerProcess) -> None:
    store = client.vector_stores.create()
    file_id = upload(client, "a.txt", "update")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=file_id)
    with http(server) as api:
        response = api.post(f"vector_stores/{store.id}/files/{file_id}", json={})
    assert response.status_code == 400
    assert error_of(response)["param"] == "attributes"
    assert error_of(response)["code"] == "missing_required_parameter"


STORE_BODY_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "days 0": ({"expires_after": {"anchor": "last_active_at", "days": 0}}, "expires_after.days"),
    "days 366": (
        {"expires_after": {"anchor": "last_active_at", "days": 366}},
        "expires_after.days",
    ),
    "anchor": ({"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor"),
    "long name": ({"name": "n" * 257}, "name"),
    "17 metadata": ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    "malformed file id": ({"file_ids": ["notafile"]}, "file_ids[0]"),
    "501 file ids": ({"file_ids": [f"file-x{i}" for i in range(501)]}, "file_ids"),
    "unknown key": ({"colour": "red"}, "colour"),
}


@pytest.mark.parametrize("case", STORE_BODY_ERRORS.values(), ids=STORE_BODY_ERRORS.keys())
def test_bad_store_bodies(server: ServerProcess, case: tuple[dict[str, Any], str]) -> None:
    payload, param = case
    with http(server) as api:
        before = api.get("vector_stores", params={"limit": 1}).json()["first_id"]
        response = api.post("vector_stores", json=payload)
        assert api.get("vector_stores", params={"limit": 1}).json()["first_id"] == before
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_file_ids_are_400(client: openai.OpenAI) -> None:
    known = upload(client, "k.txt", "known")
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.create(file_ids=[known, "file-doesnotexist"])
    assert info.value.param == "file_ids[1]"
    assert "file-doesnotexist" in sdk_error_message(info.value)
    store = client.vector_stores.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.create(vector_store_id=store.id, file_id="file-doesnotexist")
    assert "file-doesnotexist" in sdk_error_message(info.value)
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


def test_unknown_file_id_param_is_file_id(client: openai.OpenAI) -> None:
    store = client.vector_stores.create()
    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.files.create(vector_store_id=store.id, file_id="file-doesnotexist")
    assert info.value.param == "file_id"


def test_unknown_store_is_404(client: openai.OpenAI, server: ServerProcess) -> None:
    file_id = upload(client, "u.txt", "unknown store")
    missing = "vs_doesnotexist"
    for attempt in (
        lambda: client.vector_stores.retrieve(missing),
        lambda: client.vector_stores.update(missing, name="x"),
        lambda: client.vector_stores.delete(missing),
        lambda: client.vector_stores.search(missing, query="x"),
        lambda: client.vector_stores.files.list(missing),
        lambda: client.vector_stores.files.create(vector_store_id=missing, file_id=file_id),
        lambda: client.vector_stores.files.retrieve(file_id, vector_store_id=missing),
        lambda: client.vector_stores.files.update(file_id, vector_store_id=missing, attributes={}),
        lambda: client.vector_stores.files.delete(file_id, vector_store_id=missing),
        lambda: client.vector_stores.files.content(file_id, vector_store_id=missing),
        lambda: client.vector_stores.file_batches.create(missing, file_ids=[file_id]),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            attempt()
        assert sdk_error_message(info.value) == f"No vector store found with id '{missing}'."
    store = client.vector_stores.create()
    with pytest.raises(openai.NotFoundError) as info:
        client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert sdk_error_message(info.value) == f"No vector store file found with id '{file_id}'."
    with http(server) as api:
        response = api.get(f"vector_stores/{store.id}/files/{file_id}/content")
    assert response.status_code == 404
    assert_matches_schema(response.json(), "ErrorResponse")
