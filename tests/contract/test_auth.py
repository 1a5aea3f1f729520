"""API keys and projects: open mode, 401s, isolation between projects, revocation, safe binds."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.raw import error_of, http, sdk_error_message
from tests.support.server import ServerProcess


def create_key(server: ServerProcess, project: str) -> str:
    result = server.cli("keys", "create", "--project", project, "--name", f"{project}-key")
    assert result.returncode == 0, result.stderr
    match = re.search(r"secret:\s+(\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


@pytest.fixture
def keyed_server(make_server: ServerFactory) -> Iterator[ServerProcess]:
    # No remembered answers: key changes must show on the very next request here.
    server = make_server(env={"ASSISTANTD_AUTH_CACHE_SECONDS": "0"}).start()
    yield server
    server.stop()


def test_open_until_a_key_exists_then_isolated(keyed_server: ServerProcess) -> None:
    anonymous = sdk_client(keyed_server, api_key="anything")
    open_thread = anonymous.beta.threads.create()

    alpha_key = create_key(keyed_server, "alpha")
    beta_key = create_key(keyed_server, "beta")

    with pytest.raises(openai.AuthenticationError) as info:
        anonymous.beta.threads.create()
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "anything" not in sdk_error_message(info.value), "keys are never echoed in full"
    with http(keyed_server, api_key="") as bare:
        response = bare.get("assistants", headers={"Authorization": ""})
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"

    alpha = sdk_client(keyed_server, api_key=alpha_key)
    beta = sdk_client(keyed_server, api_key=beta_key)
    assistant = alpha.beta.assistants.create(model="gpt-4o", name="alpha's")
    thread = alpha.beta.threads.create(metadata={"owner": "alpha"})
    message = alpha.beta.threads.messages.create(thread.id, role="user", content="secret")

    for attempt in (
        lambda: beta.beta.assistants.retrieve(assistant.id),
        lambda: beta.beta.assistants.update(assistant.id, name="stolen"),
        lambda: beta.beta.assistants.delete(assistant.id),
        lambda: beta.beta.threads.retrieve(thread.id),
        lambda: beta.beta.threads.update(thread.id, metadata={"x": "y"}),
        lambda: beta.beta.threads.delete(thread.id),
        lambda: beta.beta.threads.messages.list(thread.id),
        lambda: beta.beta.threads.messages.create(thread.id, role="user", content="hi"),
        lambda: beta.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        lambda: beta.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={}),
        lambda: beta.beta.threads.messages.delete(message.id, thread_id=thread.id),
        lambda: alpha.beta.threads.retrieve(open_thread.id),
    ):
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert beta.beta.assistants.list().data == []
    with http(keyed_server, api_key=beta_key) as api:
        assert api.get("threads", params={"metadata[owner]": "alpha"}).json()["data"] == []

    # Nothing of alpha's was changed by beta's attempts.
    assert alpha.beta.assistants.retrieve(assistant.id).name == "alpha's"
    assert alpha.beta.threads.retrieve(thread.id).metadata == {"owner": "alpha"}
    assert [m.id for m in alpha.beta.threads.messages.list(thread.id)] == [message.id]
    assert [a.id for a in alpha.beta.assistants.list()] == [assistant.id]

    listing = keyed_server.cli("keys", "list")
    assert listing.returncode == 0
    assert "alpha" in listing.stdout
    assert "beta" in listing.stdout
    assert alpha_key not in listing.stdout
    assert beta_key not in listing.stdout

    beta_id = next(
        line.split("\t")[0] for line in listing.stdout.splitlines() if "\tbeta\t" in line
    )
    revoked = keyed_server.cli("keys", "revoke", beta_id)
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(openai.AuthenticationError):
        beta.beta.assistants.list()
    assert keyed_server.cli("keys", "revoke", beta_id).returncode == 1
    assert alpha.beta.assistants.retrieve(assistant.id).id == assistant.id


def test_two_keys_of_one_project_share_objects(keyed_server: ServerProcess) -> None:
    first = sdk_client(keyed_server, api_key=create_key(keyed_server, "team"))
    second = sdk_client(keyed_server, api_key=create_key(keyed_server, "team"))
    thread = first.beta.threads.create()
    assert second.beta.threads.retrieve(thread.id).id == thread.id


def test_refuses_public_bind_without_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("public")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistantd",
            "serve",
            "--host",
            "0.0.0.0",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in result.stderr


def test_public_bind_allowed_with_keys_or_flag(make_server: ServerFactory) -> None:
    flagged = make_server()
    flagged.host = "0.0.0.0"
    flagged.start("--insecure-no-auth")
    try:
        assert sdk_client(flagged).beta.threads.create().object == "thread"
    finally:
        flagged.stop()

    keyed = make_server()
    key = create_key(keyed, "ops")
    keyed.host = "0.0.0.0"
    keyed.start()
    try:
        assert sdk_client(keyed, api_key=key).beta.threads.create().object == "thread"
    finally:
        keyed.stop()


def test_remembered_key_checks_expire(make_server: ServerFactory) -> None:
    server = make_server(env={"ASSISTANTD_AUTH_CACHE_SECONDS": "1"}).start()
    try:
        key = create_key(server, "cached")
        client = sdk_client(server, api_key=key)
        deadline = time.monotonic() + 5
        while True:  # the open-mode answer is remembered for up to a second
            try:
                sdk_client(server, api_key="wrong").beta.threads.create()
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "a new key must take effect within the TTL"
            time.sleep(0.1)
        assert client.beta.threads.create().object == "thread"
        key_id = next(
            line.split("\t")[0]
            for line in server.cli("keys", "list").stdout.splitlines()
            if "\tcached\t" in line
        )
        assert server.cli("keys", "revoke", key_id).returncode == 0
        started = time.monotonic()
        while True:
            try:
                client.beta.threads.create()
            except openai.AuthenticationError:
                break
            assert time.monotonic() - started < 5, "a revoked key must stop within the TTL"
            time.sleep(0.1)
        # Revoking the only key does not reopen the server to anonymous callers.
        with pytest.raises(openai.AuthenticationError):
            sdk_client(server, api_key="anything").beta.threads.create()
    finally:
        server.stop()
