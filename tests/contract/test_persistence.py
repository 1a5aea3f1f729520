"""Data survives restarts: a clean stop (SIGTERM) and a crash (SIGKILL) lose nothing accepted."""

from __future__ import annotations

import signal

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_everything_survives_a_restart(make_server: ServerFactory, sig: int) -> None:
    server = make_server().start()
    client = sdk_client(server)
    assistant = client.beta.assistants.create(
        model="gpt-4o", name="durable", tools=[{"type": "code_interpreter"}], metadata={"v": "1"}
    )
    client.beta.assistants.update(assistant.id, instructions="updated before the stop")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "first"}], metadata={"user": "u1"}
    )
    message_ids = [
        client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id
        for i in range(40)
    ]
    doomed = client.beta.threads.create()
    client.beta.threads.delete(doomed.id)
    snapshot = {
        "assistant": client.beta.assistants.retrieve(assistant.id).model_dump(),
        "thread": client.beta.threads.retrieve(thread.id).model_dump(),
        "messages": [
            m.model_dump() for m in client.beta.threads.messages.list(thread.id, limit=100)
        ],
    }

    code = server.stop(sig)
    assert code == -sig
    if sig == signal.SIGTERM:
        assert "Application shutdown complete" in server.log(), "SIGTERM shuts down gracefully"
    server.start()
    client = sdk_client(server)

    assert client.beta.assistants.retrieve(assistant.id).model_dump() == snapshot["assistant"]
    assert client.beta.threads.retrieve(thread.id).model_dump() == snapshot["thread"]
    messages = [m.model_dump() for m in client.beta.threads.messages.list(thread.id, limit=100)]
    assert messages == snapshot["messages"]
    assert [m["id"] for m in messages][:40] == message_ids[::-1]
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        client.beta.threads.retrieve(doomed.id)
    server.stop()
