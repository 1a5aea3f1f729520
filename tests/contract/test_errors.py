"""The error contract: the OpenAI envelope on every failure, request ids, retry hints."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from assistantd.store.database import sync_url
from tests.conftest import ServerFactory, sdk_client
from tests.support.raw import error_of, http
from tests.support.server import ServerProcess


def test_every_response_has_a_request_id(server: ServerProcess) -> None:
    with http(server) as api:
        responses = [
            api.post("threads", json={}),
            api.get("threads/thread_missing"),
            api.post("assistants", json={}),
            api.get("no/such/route"),
        ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(i is not None and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in responses] == [200, 404, 400, 404]


def test_request_id_reaches_the_sdk(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    assert thread._request_id is not None
    assert thread._request_id.startswith("req_")
    with pytest.raises(openai.NotFoundError) as info:
        client.beta.threads.retrieve("thread_nope")
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_")


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"metadata": {"a": "b"}', b"\xff\xfe", b'"just a string"', b"[1, 2]"],
)
def test_malformed_bodies_are_400(server: ServerProcess, content: bytes) -> None:
    with http(server) as api:
        before = api.get("threads", params={"limit": 1}).json()["first_id"]
        response = api.post(
            "threads", content=content, headers={"Content-Type": "application/json"}
        )
        after = api.get("threads", params={"limit": 1}).json()["first_id"]
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]
    assert before == after


def test_empty_body_counts_as_empty_object(server: ServerProcess) -> None:
    with http(server) as api:
        response = api.post("threads", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["object"] == "thread"


def test_unknown_route_and_method(server: ServerProcess) -> None:
    with http(server) as api:
        missing = api.get("assistants/asst_x/nothing")
        wrong_method = api.put("threads")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "unknown_url"
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["type"] == "invalid_request_error"


def test_wrongly_prefixed_ids_are_404(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve("asst_abc")


def test_beta_header_policy(server: ServerProcess) -> None:
    with http(server, beta=None) as lenient:
        assert lenient.post("threads", json={}).status_code == 200
    with http(server, beta="assistants=v1") as old:
        response = old.post("threads", json={})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_beta"


def test_strict_beta_header_mode(make_server: ServerFactory) -> None:
    strict = make_server(env={"ASSISTANTD_REQUIRE_BETA_HEADER": "true"}).start()
    try:
        with http(strict, beta=None) as bare:
            response = bare.post("threads", json={})
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "invalid_beta"
        assert "OpenAI-Beta: assistants=v2" in error["message"]
        assert sdk_client(strict).beta.threads.create().object == "thread"
    finally:
        strict.stop()


def test_rate_limit_is_429_with_retry_hint(make_server: ServerFactory) -> None:
    limited = make_server(env={"ASSISTANTD_RATE_LIMIT_PER_MINUTE": "3"}).start()
    try:
        client = sdk_client(limited)
        for _ in range(3):
            client.beta.threads.create()
        with pytest.raises(openai.RateLimitError) as info:
            client.beta.threads.create()
        assert info.value.status_code == 429
        assert info.value.code == "rate_limit_exceeded"
        wait_ms = int(info.value.response.headers["retry-after-ms"])
        assert 0 < wait_ms <= 20_000
    finally:
        limited.stop()


@pytest.fixture
def broken_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    """A server whose messages table has vanished underneath it: every message query fails."""
    broken = make_server().start()
    thread_id = sdk_client(broken).beta.threads.create().id
    url = broken.database_url or f"sqlite:///{broken.data_dir / 'assistantd.sqlite3'}"
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE messages RENAME TO messages_gone"))
    engine.dispose()
    broken.env["THREAD_ID"] = thread_id
    yield broken
    broken.stop()


def test_internal_errors_are_500_envelopes_with_retry_advice(broken_server: ServerProcess) -> None:
    thread_id = broken_server.env["THREAD_ID"]
    with http(broken_server) as api:
        write = api.post(f"threads/{thread_id}/messages", json={"role": "user", "content": "x"})
        read = api.get(f"threads/{thread_id}/messages")
        healthy = api.get(f"threads/{thread_id}")
    assert write.status_code == 500
    assert error_of(write)["type"] == "server_error"
    assert write.headers["x-should-retry"] == "false"
    assert write.headers["x-request-id"].startswith("req_")
    assert read.status_code == 500
    assert read.headers["x-should-retry"] == "true"
    assert healthy.status_code == 200, "one broken table must not take the server down"


def test_health_needs_no_key(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_oversized_bodies_are_refused_with_the_envelope(server: ServerProcess) -> None:
    big = b'{"metadata": {"a": "' + b"x" * (33 * 1024 * 1024) + b'"}}'

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    with http(server) as api:
        before = api.get("threads", params={"limit": 1}).json()["first_id"]
        declared = api.post("threads", content=big, headers={"Content-Type": "application/json"})
        streamed = api.post(
            "threads", content=chunked(), headers={"Content-Type": "application/json"}
        )
        after = api.get("threads", params={"limit": 1}).json()["first_id"]
    for response in (declared, streamed):
        assert response.status_code == 413
        assert error_of(response)["code"] == "request_too_large"
        assert response.headers["x-request-id"].startswith("req_")
    assert before == after
