"""Hand-made bad input, on both backends: NUL characters, broken multipart bodies, too many
filters, unchecked file references, malformed and oversized JSON, bad list parameters, hostile
file names. Every answer is a 4xx OpenAI envelope and nothing is half-written."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.contract.test_auth import create_key
from tests.support.files import blob_files, upload
from tests.support.raw import error_of, http
from tests.support.server import ServerProcess

NUL_WORDING = "the NUL character (\\u0000) is not allowed"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def assert_error(
    response: httpx.Response, status: int, param: str | None, code: str | None = None
) -> dict[str, Any]:
    """The response is the OpenAI envelope with this status and param (and code, if given)."""
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error", error
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def newest(api: httpx.Client, path: str) -> str | None:
    """The id of the newest object of a list (None for an empty list)."""
    page = api.get(path, params={"limit": 1})
    assert page.status_code == 200, page.text
    first: str | None = page.json()["first_id"]
    return first


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with http(server) as client:
        yield client


@pytest.fixture
def thread_id(api: httpx.Client) -> str:
    created = api.post("threads", json={})
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


# --- NUL characters ------------------------------------------------------------------------
# PostgreSQL cannot store U+0000 in text or JSONB, SQLite can: both refuse it, with a 400
# naming the parameter, so the same request behaves the same on either database.

FUNCTION = {"type": "function", "function": {"name": "f", "description": "d"}}

# case: (list to check nothing was added to, path, body, param)
NUL_BODIES: dict[str, tuple[str, str, dict[str, Any], str | None]] = {
    "message text": (
        "threads/{thread}/messages",
        "threads/{thread}/messages",
        {"role": "user", "content": "a\u0000b"},
        "content",
    ),
    "message text part": (
        "threads/{thread}/messages",
        "threads/{thread}/messages",
        {
            "role": "user",
            "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": "\u0000"}],
        },
        "content[1].text",
    ),
    "message metadata": (
        "threads/{thread}/messages",
        "threads/{thread}/messages",
        {"role": "user", "content": "hi", "metadata": {"user": "u\u0000"}},
        "metadata.user",
    ),
    "metadata key": (
        "threads",
        "threads",
        {"metadata": {"us\u0000er": "u"}},
        "metadata",
    ),
    "thread metadata": ("threads", "threads", {"metadata": {"user": "\u0000"}}, "metadata.user"),
    "thread message": (
        "threads",
        "threads",
        {"messages": [{"role": "user", "content": "fine"}, {"role": "user", "content": "\u0000"}]},
        "messages[1].content",
    ),
    "assistant name": (
        "assistants",
        "assistants",
        {"model": "gpt-4o", "name": "n\u0000"},
        "name",
    ),
    "instructions": (
        "assistants",
        "assistants",
        {"model": "gpt-4o", "instructions": "be \u0000 nice"},
        "instructions",
    ),
    "function description": (
        "assistants",
        "assistants",
        {
            "model": "gpt-4o",
            "tools": [{"type": "function", "function": {"name": "f", "description": "\u0000"}}],
        },
        "tools[0].function.description",
    ),
    "model name": ("assistants", "assistants", {"model": "gpt\u00004o"}, "model"),
    "vector store name": ("vector_stores", "vector_stores", {"name": "\u0000"}, "name"),
    "run instructions": (
        "threads/{thread}/runs",
        "threads/{thread}/runs",
        {"assistant_id": "asst_any", "additional_instructions": "\u0000"},
        "additional_instructions",
    ),
    "top-level key": ("threads", "threads", {"meta\u0000data": {}}, None),
    "assistant description": (
        "assistants",
        "assistants",
        {"model": "gpt-4o", "description": "\u0000"},
        "description",
    ),
    "json schema name": (
        "assistants",
        "assistants",
        {
            "model": "gpt-4o",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s\u0000"}},
        },
        "response_format.json_schema.name",
    ),
    "json schema property key": (
        "assistants",
        "assistants",
        {
            "model": "gpt-4o",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": {"properties": {"a\u0000": {}}}},
            },
        },
        "response_format.json_schema.schema.properties",
    ),
    "vector store metadata": (
        "vector_stores",
        "vector_stores",
        {"name": "ok", "metadata": {"k": "\u0000"}},
        "metadata.k",
    ),
}


@pytest.mark.parametrize("case", NUL_BODIES.values(), ids=NUL_BODIES.keys())
def test_nul_in_a_stored_string_is_a_400_naming_it(
    api: httpx.Client, thread_id: str, case: tuple[str, str, dict[str, Any], str | None]
) -> None:
    listed, path, body, param = case
    listed, path = (p.format(thread=thread_id) for p in (listed, path))
    before = newest(api, listed)
    response = api.post(path, json=body)
    error = assert_error(response, 400, param, "invalid_value")
    assert NUL_WORDING in error["message"]
    assert newest(api, listed) == before, "nothing may be stored"


def test_nul_in_an_update_is_refused_and_changes_nothing(api: httpx.Client, thread_id: str) -> None:
    response = api.post(f"threads/{thread_id}", json={"metadata": {"k": "v\u0000"}})
    assert_error(response, 400, "metadata.k", "invalid_value")
    assert api.get(f"threads/{thread_id}").json()["metadata"] == {}
    message = api.post(f"threads/{thread_id}/messages", json={"role": "user", "content": "hi"})
    path = f"threads/{thread_id}/messages/{message.json()['id']}"
    response = api.post(path, json={"metadata": {"\u0000": "v"}})
    assert_error(response, 400, "metadata", "invalid_value")
    assert api.get(path).json()["metadata"] == {}


def test_escaped_backslash_before_u0000_is_no_nul(api: httpx.Client) -> None:
    """`\\\\u0000` in JSON is a backslash and the text `u0000`: stored as sent."""
    response = api.post(
        "threads",
        content=b'{"metadata": {"k": "a\\\\u0000"}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"k": "a\\u0000"}


def test_nul_in_query_values(api: httpx.Client, thread_id: str) -> None:
    assert_error(api.get("threads", params={"metadata[user]": "a\x00"}), 400, "metadata[user]")
    assert_error(
        api.get(f"threads/{thread_id}/messages", params={"run_id": "run_\x00"}), 400, "run_id"
    )
    assert_error(api.get("files", params={"purpose": "assistants\x00"}), 400, "purpose")
    assert_error(api.get("threads?metadata[us%00er]=x"), 400, None)


@pytest.mark.parametrize("param", ["after", "before"])
@pytest.mark.parametrize(
    "path", ["assistants", "threads", "files", "vector_stores", "threads/{thread}/messages"]
)
def test_nul_in_a_cursor_is_an_unknown_cursor(
    api: httpx.Client, thread_id: str, path: str, param: str
) -> None:
    response = api.get(path.format(thread=thread_id), params={param: "obj_\x00"})
    if path == "files" and param == "before":  # /files pages with `after` only
        assert_error(response, 400, "before", "unknown_parameter")
        return
    error = assert_error(response, 400, param, "invalid_cursor")
    assert error["message"] == f"Invalid '{param}': no object with id 'obj_\x00' in this list."


# path, wording of the 404 (the first id in the path holds the NUL)
NUL_PATHS: list[tuple[str, str, str]] = [
    ("GET", "threads/thread_%00", "No thread found with id 'thread_\x00'."),
    ("POST", "threads/thread_%00", "No thread found with id 'thread_\x00'."),
    ("DELETE", "threads/thread_%00", "No thread found with id 'thread_\x00'."),
    ("GET", "threads/thread_%00/messages", "No thread found with id 'thread_\x00'."),
    ("POST", "threads/thread_%00/messages", "No thread found with id 'thread_\x00'."),
    ("GET", "threads/{thread}/messages/msg_%00", "No message found with id 'msg_\x00'."),
    ("POST", "threads/{thread}/messages/msg_%00", "No message found with id 'msg_\x00'."),
    ("GET", "threads/thread_%00/runs", "No thread found with id 'thread_\x00'."),
    ("GET", "threads/{thread}/runs/run_%00", "No run found with id 'run_\x00'."),
    ("GET", "threads/{thread}/runs/run_%00/steps", "No run found with id 'run_\x00'."),
    ("GET", "assistants/asst_%00", "No assistant found with id 'asst_\x00'."),
    ("DELETE", "assistants/asst_%00", "No assistant found with id 'asst_\x00'."),
    ("GET", "files/file-%00", "No file found with id 'file-\x00'."),
    ("GET", "files/file-%00/content", "No file found with id 'file-\x00'."),
    ("GET", "vector_stores/vs_%00", "No vector store found with id 'vs_\x00'."),
    ("GET", "vector_stores/vs_%00/files", "No vector store found with id 'vs_\x00'."),
]


@pytest.mark.parametrize(("method", "path", "wording"), NUL_PATHS)
def test_nul_in_a_path_id_is_not_found(
    api: httpx.Client, thread_id: str, method: str, path: str, wording: str
) -> None:
    body = {"role": "user", "content": "x"} if path.endswith("messages") else {}
    response = api.request(
        method, path.format(thread=thread_id), json=body if method == "POST" else None
    )
    error = assert_error(response, 404, None)
    assert error["message"] == wording


def test_nul_in_upload_fields_and_file_name(server: ServerProcess, api: httpx.Client) -> None:
    before = newest(api, "files")
    fields = api.post("files", files={"file": ("a.txt", b"x")}, data={"purpose": "assistants\x00"})
    assert NUL_WORDING in assert_error(fields, 400, "purpose", "invalid_value")["message"]
    # httpx would percent-encode the NUL: the part is written by hand.
    body = (
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="evil.php\x00.txt"\r\n'
        b"\r\nx\r\n--b--\r\n"
    )
    name = api.post(
        "files", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert NUL_WORDING in assert_error(name, 400, "file", "invalid_value")["message"]
    assert newest(api, "files") == before
    assert list((server.data_dir / "files" / "tmp").iterdir()) == []


# --- multipart edges -------------------------------------------------------------------------


def _multipart(boundary: str, *, close: bool = True) -> bytes:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "the whole file"
    )
    if close:
        body += f"\r\n--{boundary}--\r\n"
    return body.encode()


@pytest.fixture(scope="module")
def upload_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    """A server whose files folder only this module's upload tests write to."""
    own = make_server().start()
    yield own
    own.stop()


def file_ids(server: ServerProcess) -> list[str]:
    with http(server) as api:
        return [item["id"] for item in api.get("files").json()["data"]]


def test_multipart_edges_store_nothing(upload_server: ServerProcess) -> None:
    cases: list[tuple[str, bytes, str]] = [
        # boundary, body, text in the message
        ("b" * 257, _multipart("b" * 257), "boundary"),
        ("b" * 1000, _multipart("b" * 1000), "boundary"),
        ("", b"--\r\n", "boundary"),
        ("cut", _multipart("cut", close=False), "closing boundary"),
        ("cut", _multipart("cut", close=False) + b"\r\n--cut", "closing boundary"),
        ("cut", b"", "closing boundary"),
    ]
    files_before, blobs_before = file_ids(upload_server), blob_files(upload_server)
    with http(upload_server) as api:
        for boundary, body, wording in cases:
            response = api.post(
                "files",
                content=body,
                headers={"Content-Type": f'multipart/form-data; boundary="{boundary}"'},
            )
            assert wording in assert_error(response, 400, None)["message"], boundary[:10]
    assert file_ids(upload_server) == files_before
    assert blob_files(upload_server) == blobs_before
    assert list((upload_server.data_dir / "files" / "tmp").iterdir()) == []
    # The longest boundary allowed, and a complete body, still work.
    with http(upload_server) as api:
        ok = api.post(
            "files",
            content=_multipart("b" * 256),
            headers={"Content-Type": f"multipart/form-data; boundary={'b' * 256}"},
        )
        assert ok.status_code == 200, ok.text
        assert api.get(f"files/{ok.json()['id']}/content").content == b"the whole file"
    assert len(blob_files(upload_server)) == len(blobs_before) + 1


def test_truncated_upload_over_a_socket_stores_nothing(upload_server: ServerProcess) -> None:
    """The client sends its whole declared body, but the body stops inside the file."""
    body = _multipart("cut", close=False)
    request = (
        "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: multipart/form-data; boundary=cut\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    files_before, blobs_before = file_ids(upload_server), blob_files(upload_server)
    with socket.create_connection(("127.0.0.1", upload_server.port), timeout=10) as sock:
        sock.sendall(request + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"the closing boundary is missing" in answer
    assert file_ids(upload_server) == files_before
    assert blob_files(upload_server) == blobs_before
    assert list((upload_server.data_dir / "files" / "tmp").iterdir()) == []


HOSTILE_NAMES = {
    "../../etc/passwd": "passwd",
    "..\\x": "x",
    "/etc/shadow": "shadow",
    "C:\\Windows\\win.ini": "win.ini",
    "../": "upload",
}


def test_path_traversal_in_file_names_is_only_data(upload_server: ServerProcess) -> None:
    client = sdk_client(upload_server)
    root = upload_server.data_dir
    outside_before = {p.name for p in root.parent.iterdir()}
    blobs_before = len(blob_files(upload_server))
    for sent, stored in HOSTILE_NAMES.items():
        created = client.files.create(file=(sent, b"payload"), purpose="assistants")
        assert created.filename == stored, sent
    # Only blobs under random keys were written, all inside the files folder.
    assert len(blob_files(upload_server)) == blobs_before + len(HOSTILE_NAMES)
    for path in root.rglob("*"):
        assert path.name not in set(HOSTILE_NAMES.values()), path
    assert {p.name for p in root.parent.iterdir()} == outside_before


# --- too many metadata filters -----------------------------------------------------------------


def test_metadata_filters_are_limited_to_16(api: httpx.Client) -> None:
    created = api.post("threads", json={"metadata": {f"k{i}": "v" for i in range(16)}})
    thread = created.json()["id"]
    sixteen = {f"metadata[k{i}]": "v" for i in range(16)}
    page = api.get("threads", params=sixteen)
    assert page.status_code == 200, page.text
    assert [t["id"] for t in page.json()["data"]] == [thread]
    for count in (17, 1000):
        params = {f"metadata[k{i}]": "v" for i in range(count)}
        error = assert_error(api.get("threads", params=params), 400, "metadata")
        assert (
            f"Expected at most 16 metadata[key]=value filters, but got {count}"
            in (error["message"])
        )


# --- image_file references -------------------------------------------------------------------


def _image_part(file_id: str) -> dict[str, Any]:
    return {"type": "image_file", "image_file": {"file_id": file_id}}


def _image_message(file_id: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": "look"}, _image_part(file_id)]}


def test_image_file_references_are_checked(
    api: httpx.Client, client: openai.OpenAI, thread_id: str
) -> None:
    image = upload(client, "cat.png", PNG, purpose="vision")
    assistant = api.post("assistants", json={"model": "gpt-4o"}).json()["id"]
    missing = "file-doesnotexist"
    wording = f"no file found with id '{missing}'."

    # case: (list to check, path, body, param)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            f"threads/{thread_id}/messages",
            f"threads/{thread_id}/messages",
            _image_message(missing),
            "content[1].image_file.file_id",
        ),
        (
            "threads",
            "threads",
            {"messages": [_image_message(image), _image_message(missing)]},
            "messages[1].content[1].image_file.file_id",
        ),
        (
            f"threads/{thread_id}/runs",
            f"threads/{thread_id}/runs",
            {"assistant_id": assistant, "additional_messages": [_image_message(missing)]},
            "additional_messages[0].content[1].image_file.file_id",
        ),
        (
            "threads",
            "threads/runs",
            {"assistant_id": assistant, "thread": {"messages": [_image_message(missing)]}},
            "thread.messages[0].content[1].image_file.file_id",
        ),
    ]
    for listed, path, body, param in cases:
        before = newest(api, listed)
        messages_before = newest(api, f"threads/{thread_id}/messages")
        error = assert_error(api.post(path, json=body), 400, param)
        assert error["message"] == f"Invalid '{param}': {wording}"
        assert newest(api, listed) == before, path
        assert newest(api, f"threads/{thread_id}/messages") == messages_before, path

    # A real file is accepted, in every place.
    ok = api.post(f"threads/{thread_id}/messages", json=_image_message(image))
    assert ok.status_code == 200, ok.text
    assert ok.json()["content"][1]["image_file"] == {"file_id": image, "detail": "auto"}


@pytest.fixture(scope="module")
def keyed_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    """A server with keys for two projects, alpha and beta (secrets in its env)."""
    server = make_server(env={"ASSISTANTD_AUTH_CACHE_SECONDS": "0"}).start()
    server.env["ALPHA_KEY"] = create_key(server, "alpha")
    server.env["BETA_KEY"] = create_key(server, "beta")
    yield server
    server.stop()


def test_a_nul_path_id_does_not_skip_authentication(keyed_server: ServerProcess) -> None:
    with http(keyed_server, api_key="sk-wrong") as stranger:
        response = stranger.get("threads/thread_%00")
    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "invalid_api_key"
    with http(keyed_server, api_key=keyed_server.env["BETA_KEY"]) as beta:
        response = beta.get("threads/thread_%00")
    assert error_of(response)["message"] == "No thread found with id 'thread_\x00'."


def test_another_projects_image_looks_missing(keyed_server: ServerProcess) -> None:
    alpha = sdk_client(keyed_server, api_key=keyed_server.env["ALPHA_KEY"])
    beta_key = keyed_server.env["BETA_KEY"]
    theirs = upload(alpha, "cat.png", PNG, purpose="vision")
    with http(keyed_server, api_key=beta_key) as beta:
        thread = beta.post("threads", json={}).json()["id"]
        for file_id in (theirs, "file-doesnotexist"):
            response = beta.post(f"threads/{thread}/messages", json=_image_message(file_id))
            error = assert_error(response, 400, "content[1].image_file.file_id")
            assert error["message"] == (
                f"Invalid 'content[1].image_file.file_id': no file found with id '{file_id}'."
            )
            # The same as for any other file reference.
            attached = beta.post(
                f"threads/{thread}/messages",
                json={
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
                },
            )
            assert error_of(attached)["message"] == (
                f"Invalid 'attachments[0].file_id': no file found with id '{file_id}'."
            )
        assert beta.get(f"threads/{thread}/messages").json()["data"] == []


# --- malformed JSON --------------------------------------------------------------------------

DEPTH = 100_000
BAD_JSON: dict[str, bytes] = {
    "truncated": b'{"metadata": {"a": ',
    "not json": b"metadata=a",
    "invalid utf-8": b'{"metadata": {"a": "\xff\xfe"}}',
    "lone surrogate": b'{"metadata": {"a": "\\ud800"}}',
    "raw nul byte": b'{"metadata": {"a": "x\x00y"}}',
    "nested arrays": b"[" * DEPTH + b"]" * DEPTH,
    "nested objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "nested in metadata": b'{"metadata": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "nested with a nul": b'{"metadata": ' + b"[" * DEPTH + b'"\\u0000"' + b"]" * DEPTH + b"}",
    "trailing garbage": b"{} {}",
    "nan": b'{"temperature": NaN, "model": "gpt-4o"}',
}


@pytest.mark.parametrize("content", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_malformed_json_is_a_400(api: httpx.Client, content: bytes) -> None:
    before = newest(api, "threads")
    response = api.post("threads", content=content, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == 400, response.text
    error_of(response)
    assert newest(api, "threads") == before


def test_a_50_mb_json_body_is_413(api: httpx.Client) -> None:
    big = b'{"messages": [{"role": "user", "content": "' + b"x" * (50 * 1024 * 1024) + b'"}]}'
    before = newest(api, "threads")
    response = api.post("threads", content=big, headers={"Content-Type": "application/json"})
    error = assert_error(response, 413, None, "request_too_large")
    assert "33554432 bytes" in error["message"]
    assert newest(api, "threads") == before


WRONG_TYPES: dict[str, tuple[str, dict[str, str], bytes]] = {
    # case: (path, headers, body)
    "form to a JSON endpoint": (
        "threads",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"metadata%5Ba%5D=b",
    ),
    "multipart to a JSON endpoint": (
        "assistants",
        {"Content-Type": "multipart/form-data; boundary=x"},
        b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n--x--\r\n',
    ),
    "JSON to the upload endpoint": (
        "files",
        {"Content-Type": "application/json"},
        b'{"purpose": "assistants", "file": "aGk="}',
    ),
    "text to the upload endpoint": ("files", {"Content-Type": "text/plain"}, b"hello"),
    "multipart without boundary": ("files", {"Content-Type": "multipart/form-data"}, b"x"),
}


@pytest.mark.parametrize("case", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_wrong_content_types_are_400(
    api: httpx.Client, case: tuple[str, dict[str, str], bytes]
) -> None:
    path, headers, content = case
    before = newest(api, path)
    response = api.post(path, content=content, headers=headers)
    assert_error(response, 400, None)
    assert newest(api, path) == before


# --- list parameters -----------------------------------------------------------------------


BAD_LIMITS = ["0", "-1", "{max+1}", "abc", "1.5", "", "1e3", "99999999999999999999"]


@pytest.mark.parametrize("limit", BAD_LIMITS)
@pytest.mark.parametrize(
    ("path", "most"),
    [("assistants", 100), ("threads", 100), ("threads/{thread}/messages", 100), ("files", 10_000)],
)
def test_bad_limits_are_400(
    api: httpx.Client, thread_id: str, path: str, most: int, limit: str
) -> None:
    limit = limit.replace("{max+1}", str(most + 1))
    response = api.get(path.format(thread=thread_id), params={"limit": limit})
    assert_error(response, 400, "limit")
    assert api.get(path.format(thread=thread_id), params={"limit": most}).status_code == 200


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"after": "asst_unknown"}, "after", "invalid_cursor"),
        ({"before": "asst_unknown"}, "before", "invalid_cursor"),
        ({"after": ""}, "after", None),
        ({"after": "x" * 129}, "after", None),
        ({"order": "sideways"}, "order", None),
        ({"limit": "1", "cursor": "x"}, "cursor", "unknown_parameter"),
    ],
)
def test_bad_cursors_are_400(
    api: httpx.Client, params: dict[str, str], param: str, code: str | None
) -> None:
    assert_error(api.get("assistants", params=params), 400, param, code)


def test_repeated_and_unknown_query_parameters(api: httpx.Client) -> None:
    assert_error(api.get("assistants?limit=1&limit=2"), 400, "limit")
    assert_error(api.get("threads?metadata[]=x"), 400, "metadata[]")
