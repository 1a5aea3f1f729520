"""The Files API through the real SDK: uploads, listing, download, deletion, expiry, filenames
that look like paths, upload validation and isolation between projects."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.contract.test_auth import create_key
from tests.support.files import (
    assert_file,
    assert_list,
    blob_files,
    body,
    run_sql,
    search_ids,
    store_file_ids,
    upload,
    wait_for_store,
)
from tests.support.openapi import assert_matches_schema
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess

BINARY = (
    bytes(range(256)) + b"\xff\xfe\x00\x80\xc3\x28 not utf-8 \xe2\x82" + bytes(range(255, -1, -1))
)


@pytest.fixture(scope="module")
def files_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    """A server of its own: lists can be checked exactly, and its data dir inspected."""
    server = make_server().start()
    yield server
    server.stop()


@pytest.fixture
def fclient(files_server: ServerProcess) -> openai.OpenAI:
    return sdk_client(files_server)


def test_upload_bytes_and_named_files(fclient: openai.OpenAI, tmp_path: Path) -> None:
    before = int(time.time())
    raw = fclient.files.with_raw_response.create(file=b"plain bytes", purpose="assistants")
    plain = body(raw)
    assert_file(plain)
    assert plain["object"] == "file"
    assert plain["id"].startswith("file-")
    assert plain["bytes"] == len(b"plain bytes")
    assert plain["filename"] == "upload"  # the SDK's name for nameless bytes
    assert plain["purpose"] == "assistants"
    assert plain["status"] == "processed"
    assert plain["status_details"] is None
    assert plain["expires_at"] is None
    assert before <= plain["created_at"] <= int(time.time())

    path = tmp_path / "quarterly report.md"
    path.write_bytes(b"# Q3\n\nRevenue grew.\n")
    with path.open("rb") as handle:
        named = fclient.files.create(
            file=handle,
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": 3600},
        )
    assert named.filename == "quarterly report.md"
    assert named.bytes == path.stat().st_size
    assert named.purpose == "user_data"
    assert named.status == "processed"
    assert named.expires_at == named.created_at + 3600
    assert_file(body(fclient.files.with_raw_response.retrieve(named.id)))

    tupled = fclient.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="batch")
    assert (tupled.filename, tupled.bytes, tupled.purpose) == ("data.csv", 8, "batch")
    assert fclient.files.retrieve(tupled.id).model_dump() == tupled.model_dump()


def test_every_upload_purpose_is_kept(fclient: openai.OpenAI) -> None:
    for purpose in ("assistants", "batch", "fine-tune", "vision", "user_data", "evals"):
        created = fclient.files.create(file=("p.txt", b"x"), purpose=purpose)  # type: ignore[arg-type]
        assert fclient.files.retrieve(created.id).purpose == purpose


def test_content_is_byte_for_byte(fclient: openai.OpenAI, files_server: ServerProcess) -> None:
    binary = fclient.files.create(file=("blob.bin", BINARY), purpose="assistants")
    assert binary.bytes == len(BINARY)
    assert fclient.files.content(binary.id).content == BINARY
    with http(files_server) as api:
        response = api.get(f"files/{binary.id}/content")
    assert response.status_code == 200
    assert response.content == BINARY
    assert response.headers["content-length"] == str(len(BINARY))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''blob.bin"

    empty = fclient.files.create(file=("empty.txt", b""), purpose="assistants")
    assert empty.bytes == 0
    assert fclient.files.content(empty.id).content == b""

    unicode_name = fclient.files.create(
        file=("naïve résumé.txt", "héllo".encode()), purpose="vision"
    )
    assert unicode_name.filename == "naïve résumé.txt"
    with http(files_server) as api:
        response = api.get(f"files/{unicode_name.id}/content")
    assert response.content == "héllo".encode()
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"
    )


def test_list_order_cursor_limit_and_purpose(fclient: openai.OpenAI) -> None:
    made = [
        fclient.files.create(file=(f"list-{i}.txt", b"x" * i), purpose=purpose).id  # type: ignore[arg-type]
        for i, purpose in enumerate(
            ["fine-tune", "user_data", "fine-tune", "user_data", "fine-tune"]
        )
    ]
    newest_first = list(reversed(made))

    page = body(fclient.files.with_raw_response.list(limit=3))
    assert [item["id"] for item in page["data"]] == newest_first[:3]
    assert page["has_more"] is True
    assert_list(page, "ListFilesResponse", "OpenAIFile")

    after = fclient.files.list(after=newest_first[2], limit=2)
    assert [f.id for f in after.data] == newest_first[3:5]

    ascending = fclient.files.list(order="asc", after=made[1])
    assert [f.id for f in ascending.data] == made[2:]
    assert ascending.has_more is False

    tuned = fclient.files.list(purpose="fine-tune", limit=3)
    assert [f.id for f in tuned.data] == [made[4], made[2], made[0]]
    assert {f.purpose for f in fclient.files.list(purpose="fine-tune")} == {"fine-tune"}
    assert fclient.files.list(purpose="vision-nothing").data == []

    # The SDK's auto-pagination walks every page, each file once, newest first.
    walked = [f.id for f in fclient.files.list(limit=2)]
    assert walked[:5] == newest_first
    assert len(walked) == len(set(walked))


def test_list_parameter_errors(files_server: ServerProcess) -> None:
    cases = [
        ({"after": "file-doesnotexist"}, "after", "invalid_cursor"),
        ({"limit": "0"}, "limit", "invalid_value"),
        ({"limit": "10001"}, "limit", "invalid_value"),
        ({"order": "sideways"}, "order", "invalid_value"),
        ({"before": "file-x"}, "before", "unknown_parameter"),
    ]
    with http(files_server) as api:
        for params, param, code in cases:
            response = api.get("files", params=params)
            assert response.status_code == 400, (params, response.text)
            error = error_of(response)
            assert (error["param"], error["code"]) == (param, code), (params, error)
        assert api.get("files", params={"limit": "10000"}).status_code == 200


def test_retrieve_then_delete(fclient: openai.OpenAI, files_server: ServerProcess) -> None:
    created = fclient.files.create(file=("gone.txt", b"bye"), purpose="assistants")
    blobs_before = len(blob_files(files_server))
    deleted = body(fclient.files.with_raw_response.delete(created.id))
    assert deleted == {"id": created.id, "object": "file", "deleted": True}
    assert_matches_schema(deleted, "DeleteFileResponse")
    assert len(blob_files(files_server)) == blobs_before - 1, "the bytes go with the file"

    for attempt in (
        lambda: fclient.files.retrieve(created.id),
        lambda: fclient.files.content(created.id),
        lambda: fclient.files.delete(created.id),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            attempt()
        assert sdk_error_message(info.value) == f"No file found with id '{created.id}'."
    assert created.id not in {f.id for f in fclient.files.list()}


def test_unknown_file_is_404_with_the_openai_envelope(
    fclient: openai.OpenAI, files_server: ServerProcess
) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        fclient.files.retrieve("file-doesnotexist")
    assert info.value.status_code == 404
    assert sdk_error_message(info.value) == "No file found with id 'file-doesnotexist'."
    assert_matches_schema(info.value.response.json(), "ErrorResponse")
    with http(files_server) as api:
        for response in (
            api.get("files/file-doesnotexist/content"),
            api.delete("files/file-doesnotexist"),
            api.get("files/vs_notafile"),
        ):
            assert response.status_code == 404
            error = error_of(response)
            assert error["type"] == "invalid_request_error"
            assert error["message"].startswith("No file found with id '")


@pytest.mark.slow
def test_delete_detaches_from_vector_stores(fclient: openai.OpenAI) -> None:
    stall = upload(
        fclient,
        "stall.txt",
        "An aircraft wing stalls when the angle of attack exceeds the critical angle.",
    )
    pasta = upload(
        fclient, "pasta.txt", "Cook the spaghetti in salted boiling water until al dente."
    )
    first = fclient.vector_stores.create(name="first", file_ids=[stall, pasta])
    second = fclient.vector_stores.create(name="second", file_ids=[stall])
    for store in (first, second):
        assert wait_for_store(fclient, store.id).file_counts.completed == store.file_counts.total
    assert search_ids(fclient, first.id, "wing stall angle of attack")[0] == stall

    fclient.files.delete(stall)

    assert store_file_ids(fclient, first.id) == {pasta}
    assert store_file_ids(fclient, second.id) == set()
    counts = fclient.vector_stores.retrieve(first.id).file_counts
    assert (counts.total, counts.completed) == (1, 1)
    assert fclient.vector_stores.retrieve(second.id).usage_bytes == 0
    with pytest.raises(openai.NotFoundError):
        fclient.vector_stores.files.retrieve(stall, vector_store_id=first.id)
    assert stall not in search_ids(fclient, first.id, "wing stall angle of attack")
    assert search_ids(fclient, second.id, "wing stall angle of attack") == []
    assert pasta in search_ids(fclient, first.id, "spaghetti boiling water")


def test_expired_file_disappears(fclient: openai.OpenAI, files_server: ServerProcess) -> None:
    blobs_before = len(blob_files(files_server))
    created = fclient.files.create(
        file=("short-lived.txt", b"soon gone"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    kept = upload(fclient, "kept.txt", b"stays")
    assert created.expires_at == created.created_at + 3600
    # The API takes at least an hour; move the deadline into the past instead of waiting.
    assert run_sql(files_server, "UPDATE files SET expires_at = 1 WHERE id = :id", id=created.id)

    with pytest.raises(openai.NotFoundError):
        fclient.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        fclient.files.content(created.id)
    assert created.id not in {f.id for f in fclient.files.list()}
    deadline = time.monotonic() + 10
    while len(blob_files(files_server)) != blobs_before + 1:  # the sweeper removes the bytes
        assert time.monotonic() < deadline, "the expired file's bytes were never removed"
        time.sleep(0.1)
    assert fclient.files.retrieve(kept).filename == "kept.txt"


def test_path_like_filenames_stay_names(
    fclient: openai.OpenAI, files_server: ServerProcess
) -> None:
    data_dir = files_server.data_dir
    names = {
        "../../etc/passwd": "passwd",
        "a/b\\c.txt": "c.txt",
        "..\\..\\boot.ini": "boot.ini",
        "/abs/olute.txt": "olute.txt",
        "..": "upload",
        "....//x.md": "x.md",
    }
    for sent, stored in names.items():
        created = fclient.files.create(file=(sent, sent.encode()), purpose="assistants")
        assert created.filename == stored, sent
        assert fclient.files.retrieve(created.id).filename == stored
        assert fclient.files.content(created.id).content == sent.encode()

    # The bytes live only under random keys in the files folder; nothing escaped it, and no
    # file anywhere in the data dir is named after what the client sent.
    for escaped in (
        data_dir.parent / "etc" / "passwd",
        data_dir / "etc" / "passwd",
        data_dir / "files" / "passwd",
        data_dir / "c.txt",
        data_dir.parent / "boot.ini",
    ):
        assert not escaped.exists(), escaped
    sent_names = {Path(name.replace("\\", "/")).name for name in names} | set(names.values())
    blob = re.compile(r"files/([a-z0-9]{2})/\1[a-z0-9]{30}")
    payloads = {sent.encode() for sent in names}
    holders = []
    for path in data_dir.rglob("*"):
        relative = str(path.relative_to(data_dir))
        assert path.name not in sent_names, relative
        if path.is_file() and path.stat().st_size < 64 and path.read_bytes() in payloads:
            holders.append(relative)
    assert len(holders) == len(payloads), holders
    assert all(blob.fullmatch(relative) for relative in holders), holders


UPLOAD_ERRORS: dict[str, tuple[dict[str, Any], str | None, str]] = {
    # case: (httpx request arguments, expected param, text in the message)
    "missing purpose": (
        {"files": {"file": ("a.txt", b"x")}},
        "purpose",
        "Missing required parameter: 'purpose'.",
    ),
    "bad purpose": (
        {"files": {"file": ("a.txt", b"x")}, "data": {"purpose": "assistants_output"}},
        "purpose",
        "Invalid value: 'assistants_output'.",
    ),
    "expiry too short": (
        {
            "files": {"file": ("a.txt", b"x")},
            "data": {
                "purpose": "assistants",
                "expires_after[anchor]": "created_at",
                "expires_after[seconds]": "100",
            },
        },
        "expires_after[seconds]",
        "Expected a value >= 3600, but got 100 instead.",
    ),
    "expiry too long": (
        {
            "files": {"file": ("a.txt", b"x")},
            "data": {
                "purpose": "assistants",
                "expires_after[anchor]": "created_at",
                "expires_after[seconds]": "2592001",
            },
        },
        "expires_after[seconds]",
        "Expected a value <= 2592000",
    ),
    "expiry anchor": (
        {
            "files": {"file": ("a.txt", b"x")},
            "data": {
                "purpose": "assistants",
                "expires_after[anchor]": "last_active_at",
                "expires_after[seconds]": "3600",
            },
        },
        "expires_after[anchor]",
        "Invalid value: 'last_active_at'.",
    ),
    "expiry without anchor": (
        {
            "files": {"file": ("a.txt", b"x")},
            "data": {"purpose": "assistants", "expires_after[seconds]": "3600"},
        },
        "expires_after",
        "give both anchor and seconds",
    ),
    "unknown field": (
        {"files": {"file": ("a.txt", b"x")}, "data": {"purpose": "assistants", "colour": "red"}},
        "colour",
        "Unrecognized request argument supplied: colour",
    ),
    "missing file part": (
        {"files": {"document": ("a.txt", b"x")}, "data": {"purpose": "assistants"}},
        "file",
        "Missing required parameter: 'file'.",
    ),
    "two file parts": (
        {
            "files": [("file", ("a.txt", b"x")), ("file", ("b.txt", b"y"))],
            "data": {"purpose": "assistants"},
        },
        "file",
        "Only one 'file' part is allowed.",
    ),
    "json body": (
        {"json": {"purpose": "assistants", "file": "aGVsbG8="}},
        None,
        "multipart/form-data",
    ),
    "form-encoded body": (
        {"data": {"purpose": "assistants"}},
        None,
        "multipart/form-data",
    ),
    "no body": ({}, None, "multipart/form-data"),
}


@pytest.mark.parametrize("case", UPLOAD_ERRORS.values(), ids=UPLOAD_ERRORS.keys())
def test_upload_validation(
    files_server: ServerProcess, case: tuple[dict[str, Any], str | None, str]
) -> None:
    request, param, wording = case
    with http(files_server) as api:
        count = len(api.get("files").json()["data"])
        response = api.post("files", **request)
        assert len(api.get("files").json()["data"]) == count, "nothing may be stored"
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert wording in error["message"]
    assert list((files_server.data_dir / "files" / "tmp").iterdir()) == [], "no partial upload"


def test_upload_validation_through_the_sdk(fclient: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        fclient.files.create(file=("a.txt", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    assert info.value.param == "purpose"
    with pytest.raises(openai.BadRequestError) as info:
        fclient.files.create(
            file=("a.txt", b"x"),
            purpose="assistants",
            expires_after={"anchor": "created_at", "seconds": 100},  # type: ignore[typeddict-item]
        )
    assert info.value.param == "expires_after[seconds]"
    assert info.value.code == "invalid_value"


def test_abandoned_upload_leaves_nothing_behind(files_server: ServerProcess) -> None:
    """A client that goes away mid-upload leaves no file and no partial bytes."""
    boundary = "abandon"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="half.txt"\r\n'
        "\r\n"
    ).encode()
    request = (
        "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + 10_000_000}\r\n\r\n"
    ).encode()
    with http(files_server) as api:
        count = len(api.get("files").json()["data"])
    tmp = files_server.data_dir / "files" / "tmp"
    with socket.create_connection(("127.0.0.1", files_server.port), timeout=5) as sock:
        sock.sendall(request + head + b"x" * 1_000_000)
        deadline = time.monotonic() + 5
        while not list(tmp.iterdir()):  # the upload has started
            assert time.monotonic() < deadline, "the upload never reached the blob store"
            time.sleep(0.02)
    deadline = time.monotonic() + 5
    while list(tmp.iterdir()):
        assert time.monotonic() < deadline, f"partial upload left behind: {list(tmp.iterdir())}"
        time.sleep(0.05)
    with http(files_server) as api:
        assert len(api.get("files").json()["data"]) == count


def test_upload_over_the_size_cap_is_refused(make_server: ServerFactory) -> None:
    """The cap (512 MB by default) lowered to 1 MB: a 2 MB upload is refused as it streams,
    and nothing is kept."""
    server = make_server(env={"ASSISTANTD_MAX_UPLOAD_MB": "1"}).start()
    try:
        client = sdk_client(server)
        with pytest.raises(openai.BadRequestError) as info:
            client.files.create(file=("big.bin", b"x" * (2 * 1024 * 1024)), purpose="assistants")
        assert info.value.code == "file_too_large"
        assert info.value.param == "file"
        small = client.files.create(file=("small.bin", b"x" * 1000), purpose="assistants")
        assert [f.id for f in client.files.list()] == [small.id]
        leftovers = [p for p in (server.data_dir / "files" / "tmp").iterdir()]
        assert leftovers == []
    finally:
        server.stop()


@pytest.mark.slow
def test_declared_oversize_upload_is_refused_before_the_body(files_server: ServerProcess) -> None:
    boundary = "xyzboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    declared = 600 * 1024 * 1024
    request = (
        f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-test\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", files_server.port), timeout=3) as sock:
        sock.sendall(request + head + b"\0" * 65536)
        reply = b""
        try:
            # The answer's head and body may come in separate packets: read until it is whole.
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            pass
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1:2] in ([b"413"], [b"400"]), reply[:300]
    assert b"file_too_large" in reply or b"request_too_large" in reply


# --- isolation between projects -----------------------------------------------------------


@pytest.fixture
def keyed_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    server = make_server(env={"ASSISTANTD_AUTH_CACHE_SECONDS": "0"}).start()
    yield server
    server.stop()


def test_files_are_isolated_between_projects(keyed_server: ServerProcess) -> None:
    alpha = sdk_client(keyed_server, api_key=create_key(keyed_server, "alpha"))
    beta = sdk_client(keyed_server, api_key=create_key(keyed_server, "beta"))
    secret = alpha.files.create(file=("secret.txt", b"alpha only"), purpose="assistants")
    alpha_store = alpha.vector_stores.create(name="alpha's")
    beta_store = beta.vector_stores.create(name="beta's")

    for attempt in (
        lambda: beta.files.retrieve(secret.id),
        lambda: beta.files.content(secret.id),
        lambda: beta.files.delete(secret.id),
        lambda: beta.vector_stores.retrieve(alpha_store.id),
        lambda: beta.vector_stores.files.list(alpha_store.id),
        lambda: beta.vector_stores.search(alpha_store.id, query="alpha"),
        lambda: beta.vector_stores.delete(alpha_store.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert beta.files.list().data == []
    assert [s.id for s in beta.vector_stores.list()] == [beta_store.id]

    # Someone else's file id is as unknown as a made-up one, wherever it is given.
    with pytest.raises(openai.BadRequestError) as info:
        beta.vector_stores.create(file_ids=[secret.id])
    assert info.value.param == "file_ids[0]"
    with pytest.raises(openai.BadRequestError) as info:
        beta.vector_stores.files.create(vector_store_id=beta_store.id, file_id=secret.id)
    assert info.value.param is not None
    assert info.value.param.startswith("file_id")
    with pytest.raises(openai.BadRequestError) as info:
        beta.vector_stores.file_batches.create(beta_store.id, file_ids=[secret.id])
    assert info.value.param == "file_ids[0]"
    assert beta.vector_stores.retrieve(beta_store.id).file_counts.total == 0

    assert alpha.files.retrieve(secret.id).filename == "secret.txt"
    assert alpha.files.content(secret.id).content == b"alpha only"
    assert [f.id for f in alpha.files.list()] == [secret.id]
    assert [s.id for s in alpha.vector_stores.list()] == [alpha_store.id]

    with pytest.raises(openai.AuthenticationError):
        sdk_client(keyed_server, api_key="sk-wrong").files.create(
            file=("a.txt", b"x"), purpose="assistants"
        )
    assert httpx.get(f"{keyed_server.base_url}/files").status_code == 401


def test_file_objects_match_the_spec(fclient: openai.OpenAI) -> None:
    created = body(
        fclient.files.with_raw_response.create(
            file=("spec.jsonl", b'{"a": 1}\n'),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 7200},
        )
    )
    assert_file(created)
    assert isinstance(created["expires_at"], int)
    assert_file(body(fclient.files.with_raw_response.retrieve(created["id"])))
    page = body(fclient.files.with_raw_response.list(purpose="batch"))
    assert_list(page, "ListFilesResponse", "OpenAIFile")
    deleted = body(fclient.files.with_raw_response.delete(created["id"]))
    assert_matches_schema(deleted, "DeleteFileResponse")
