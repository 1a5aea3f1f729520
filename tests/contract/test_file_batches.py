"""Vector-store file batches through the real SDK: ids or per-file entries, the polling and
uploading helpers, listing a batch's files, cancelling mid-ingestion, and validation."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest

from tests.support.files import (
    POLL_MS,
    assert_list,
    assert_object,
    body,
    create_batch_with_files,
    store_file_ids,
    upload,
)
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess

STATIC_100: Any = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
}
AUTO_RESOLVED = {
    "type": "static",
    "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
}


def counts(batch: Any) -> tuple[int, int, int, int, int]:
    """(in_progress, completed, failed, cancelled, total)."""
    c = batch.file_counts
    return (c.in_progress, c.completed, c.failed, c.cancelled, c.total)


def batch_file_ids(client: openai.OpenAI, store_id: str, batch_id: str, **params: Any) -> set[str]:
    listed = client.vector_stores.file_batches.list_files(
        batch_id, vector_store_id=store_id, limit=100, **params
    )
    return {f.id for f in listed}


@pytest.mark.slow
def test_file_ids_share_attributes_and_chunking(client: openai.OpenAI) -> None:
    ids = [
        upload(client, f"tide-{i}.txt", f"Tide table {i}: high water at {i + 6} in the morning.")
        for i in range(3)
    ]
    store = client.vector_stores.create(name="batch")
    created = body(
        client.vector_stores.file_batches.with_raw_response.create(
            store.id,
            file_ids=[*ids, ids[0]],  # a repeated id counts once
            attributes={"source": "harbour", "year": 2024},
            chunking_strategy=STATIC_100,
        )
    )
    assert_object(created, "VectorStoreFileBatchObject")
    assert created["id"].startswith("vsfb_")
    assert created["object"] == "vector_store.files_batch"
    assert created["vector_store_id"] == store.id
    assert created["status"] == "in_progress"
    assert created["file_counts"] == {
        "in_progress": 3,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 3,
    }

    batches = client.vector_stores.file_batches
    done = batches.poll(created["id"], vector_store_id=store.id, poll_interval_ms=POLL_MS)
    assert done.status == "completed"
    assert counts(done) == (0, 3, 0, 0, 3)
    fetched = body(batches.with_raw_response.retrieve(created["id"], vector_store_id=store.id))
    assert_object(fetched, "VectorStoreFileBatchObject")
    assert (fetched["id"], fetched["status"]) == (created["id"], "completed")
    assert fetched["file_counts"] == done.file_counts.model_dump()

    page = body(
        batches.with_raw_response.list_files(created["id"], vector_store_id=store.id, limit=2)
    )
    assert page["has_more"] is True
    assert_list(page, "ListVectorStoreFilesResponse", "VectorStoreFileObject")
    listed = list(batches.list_files(created["id"], vector_store_id=store.id, limit=2))
    assert sorted(f.id for f in listed) == sorted(ids)
    for record in listed:
        assert record.attributes == {"source": "harbour", "year": 2024}
        assert record.chunking_strategy is not None
        assert record.chunking_strategy.model_dump() == STATIC_100
        assert record.status == "completed"
    assert batch_file_ids(client, store.id, done.id, filter="completed") == set(ids)
    assert batch_file_ids(client, store.id, done.id, filter="failed") == set()
    assert store_file_ids(client, store.id) == set(ids)


@pytest.mark.slow
def test_per_file_entries(client: openai.OpenAI) -> None:
    a = upload(client, "a.txt", "Alpha: the lock keeper opens the upper gate first.")
    b = upload(client, "b.txt", "Bravo: the lower gate opens once the levels match.")
    c = upload(client, "c.txt", "Charlie: boats wait at the blue line.")
    store = client.vector_stores.create()
    batch = create_batch_with_files(
        client,
        store.id,
        [
            {"file_id": a, "attributes": {"step": 1, "gate": "upper"}},
            {"file_id": b, "attributes": {"step": 2}, "chunking_strategy": STATIC_100},
            {"file_id": c},
        ],
    )
    assert counts(batch) == (3, 0, 0, 0, 3)
    done = client.vector_stores.file_batches.poll(
        batch.id, vector_store_id=store.id, poll_interval_ms=POLL_MS
    )
    assert (done.status, counts(done)) == ("completed", (0, 3, 0, 0, 3))
    records = {
        f.id: f
        for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    }
    assert records[a].attributes == {"step": 1, "gate": "upper"}
    assert records[b].attributes == {"step": 2}
    assert records[c].attributes is None
    strategies = {
        fid: r.chunking_strategy.model_dump() for fid, r in records.items() if r.chunking_strategy
    }
    assert strategies == {a: AUTO_RESOLVED, b: STATIC_100, c: AUTO_RESOLVED}


@pytest.mark.slow
def test_upload_and_poll(client: openai.OpenAI) -> None:
    existing = upload(client, "existing.txt", "An existing file joins the uploaded ones.")
    store = client.vector_stores.create()
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[
            ("north.txt", b"The north pier is closed for repairs."),
            ("south.md", b"# South pier\n\nOpen daily from six."),
        ],
        file_ids=[existing],
        poll_interval_ms=POLL_MS,
    )
    assert (batch.status, counts(batch)) == ("completed", (0, 3, 0, 0, 3))
    ids = batch_file_ids(client, store.id, batch.id)
    assert existing in ids
    uploaded = {client.files.retrieve(fid).filename: client.files.retrieve(fid) for fid in ids}
    assert set(uploaded) == {"existing.txt", "north.txt", "south.md"}
    assert {f.purpose for f in uploaded.values()} == {"assistants"}


@pytest.mark.slow
def test_good_and_bad_files_finish(client: openai.OpenAI) -> None:
    good = upload(client, "good.txt", "The signal box controls both level crossings.")
    empty = upload(client, "empty.txt", b"")
    junk = upload(client, "junk.bin", bytes(range(256)) * 3)
    store = client.vector_stores.create()
    batch = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=[good, empty, junk], poll_interval_ms=POLL_MS
    )
    assert batch.status == "completed"
    assert counts(batch) == (0, 1, 2, 0, 3)
    assert batch_file_ids(client, store.id, batch.id, filter="failed") == {empty, junk}
    assert batch_file_ids(client, store.id, batch.id, filter="completed") == {good}
    assert batch_file_ids(client, store.id, batch.id, filter="in_progress") == set()

    with pytest.raises(openai.BadRequestError) as info:
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert sdk_error_message(info.value) == (
        f"Cannot cancel file batch '{batch.id}': it has already finished."
    )

    only_bad = client.vector_stores.file_batches.create_and_poll(
        store.id, file_ids=[upload(client, "also-empty.md", b"")], poll_interval_ms=POLL_MS
    )
    assert (only_bad.status, counts(only_bad)) == ("failed", (0, 0, 1, 0, 1))


FILLER = "The archive index lists every shelf, box and folder by its catalogue number. " * 24


@pytest.mark.slow
def test_cancel_mid_ingestion(client: openai.OpenAI) -> None:
    ids = [
        upload(client, f"archive-{i:02}.txt", f"Archive volume {i}. {FILLER}") for i in range(30)
    ]
    store = client.vector_stores.create(name="to cancel")
    batches = client.vector_stores.file_batches
    batch = batches.create(store.id, file_ids=ids)
    assert counts(batch) == (30, 0, 0, 0, 30)

    cancelled = body(batches.with_raw_response.cancel(batch.id, vector_store_id=store.id))
    assert_object(cancelled, "VectorStoreFileBatchObject")
    assert cancelled["status"] == "cancelled"
    tally = cancelled["file_counts"]
    assert tally["in_progress"] == 0
    assert tally["failed"] == 0
    assert tally["completed"] + tally["cancelled"] == tally["total"] == 30
    assert tally["cancelled"] >= 1

    # The SDK poller stops at once (in_progress is 0); a file embedded when the cancel came is
    # not turned back into `completed` afterwards.
    polled = batches.poll(batch.id, vector_store_id=store.id, poll_interval_ms=POLL_MS)
    assert polled.status == "cancelled"
    assert polled.file_counts.model_dump() == tally
    time.sleep(1.5)
    later = batches.retrieve(batch.id, vector_store_id=store.id)
    assert (later.status, later.file_counts.model_dump()) == ("cancelled", tally)

    statuses = [f.status for f in batches.list_files(batch.id, vector_store_id=store.id, limit=100)]
    assert sorted(set(statuses)) <= ["cancelled", "completed"]
    assert statuses.count("cancelled") == tally["cancelled"]
    assert len(batch_file_ids(client, store.id, batch.id, filter="cancelled")) == tally["cancelled"]
    store_now = client.vector_stores.retrieve(store.id)
    assert store_now.status == "completed"
    assert store_now.file_counts.cancelled == tally["cancelled"]
    assert store_now.file_counts.in_progress == 0

    again = batches.cancel(batch.id, vector_store_id=store.id)
    assert (again.status, again.file_counts.model_dump()) == ("cancelled", tally)


BATCH_ERRORS: dict[str, tuple[dict[str, Any], str | None]] = {
    "2001 ids": ({"file_ids": [f"file-x{i}" for i in range(2001)]}, "file_ids"),
    "empty ids": ({"file_ids": []}, "file_ids"),
    "empty files": ({"files": []}, "files"),
    "2001 files": ({"files": [{"file_id": f"file-x{i}"} for i in range(2001)]}, "files"),
    "malformed id": ({"file_ids": ["batch-1"]}, "file_ids[0]"),
    "file entry without id": ({"files": [{"attributes": {"a": 1}}]}, "files[0].file_id"),
    "unknown key": ({"file_ids": ["file-x"], "priority": "high"}, "priority"),
}


@pytest.mark.parametrize("case", BATCH_ERRORS.values(), ids=BATCH_ERRORS.keys())
def test_bad_batch_bodies(
    client: openai.OpenAI, server: ServerProcess, case: tuple[dict[str, Any], str | None]
) -> None:
    payload, param = case
    store = client.vector_stores.create()
    with http(server) as api:
        response = api.post(f"vector_stores/{store.id}/file_batches", json=payload)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0


EXCLUSIVE_ERRORS: dict[str, dict[str, Any]] = {
    "both": {"file_ids": ["file-x"], "files": [{"file_id": "file-x"}]},
    "neither": {},
    "files with shared chunking": {
        "files": [{"file_id": "file-x"}],
        "chunking_strategy": {"type": "auto"},
    },
    "files with shared attributes": {"files": [{"file_id": "file-x"}], "attributes": {"a": 1}},
}


@pytest.mark.parametrize("payload", EXCLUSIVE_ERRORS.values(), ids=EXCLUSIVE_ERRORS.keys())
def test_file_ids_and_files_exclude_each_other(
    client: openai.OpenAI, server: ServerProcess, payload: dict[str, Any]
) -> None:
    store = client.vector_stores.create()
    with http(server) as api:
        response = api.post(f"vector_stores/{store.id}/file_batches", json=payload)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert "file_ids" in error["message"]
    assert "files" in error["message"]


@pytest.mark.parametrize("payload", EXCLUSIVE_ERRORS.values(), ids=EXCLUSIVE_ERRORS.keys())
def test_exclusive_errors_name_a_parameter(
    client: openai.OpenAI, server: ServerProcess, payload: dict[str, Any]
) -> None:
    store = client.vector_stores.create()
    with http(server) as api:
        error = error_of(api.post(f"vector_stores/{store.id}/file_batches", json=payload))
    assert not error["message"].startswith("Invalid ''"), error
    assert error["param"] in ("file_ids", "files", "chunking_strategy", "attributes"), error


def test_unknown_files_batches_and_stores(client: openai.OpenAI) -> None:
    known = upload(client, "k.txt", "known")
    store = client.vector_stores.create()
    batches = client.vector_stores.file_batches
    with pytest.raises(openai.BadRequestError) as info:
        batches.create(store.id, file_ids=[known, "file-doesnotexist"])
    assert info.value.param == "file_ids[1]"
    assert "file-doesnotexist" in sdk_error_message(info.value)
    with pytest.raises(openai.BadRequestError) as info:
        create_batch_with_files(client, store.id, [{"file_id": "file-doesnotexist"}])
    assert info.value.param == "files[0]"
    assert client.vector_stores.retrieve(store.id).file_counts.total == 0

    with pytest.raises(openai.NotFoundError) as info:
        batches.create("vs_doesnotexist", file_ids=[known])
    assert sdk_error_message(info.value) == "No vector store found with id 'vs_doesnotexist'."
    for attempt in (
        lambda: batches.retrieve("vsfb_doesnotexist", vector_store_id=store.id),
        lambda: batches.cancel("vsfb_doesnotexist", vector_store_id=store.id),
        lambda: batches.list_files("vsfb_doesnotexist", vector_store_id=store.id),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            attempt()
        assert sdk_error_message(info.value) == "No file batch found with id 'vsfb_doesnotexist'."

    batch = batches.create(store.id, file_ids=[known])
    other = client.vector_stores.create()
    with pytest.raises(openai.NotFoundError):
        batches.retrieve(batch.id, vector_store_id=other.id)
    with pytest.raises(openai.BadRequestError) as info:
        batches.list_files(batch.id, vector_store_id=store.id, filter="done")  # type: ignore[arg-type]
    assert info.value.param == "filter"
