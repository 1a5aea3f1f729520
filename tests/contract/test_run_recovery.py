"""Durability of runs: a crash (SIGKILL) or a stop never leaves a run unfinished; deadlines hold."""

from __future__ import annotations

import signal
import time

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 50}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object"}},
}


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_runs_interrupted_by_a_stop_finish_after_restart(
    make_server: ServerFactory, model: ScriptedUpstream, sig: int
) -> None:
    server = make_server(
        env={"ASSISTANTD_JOB_LEASE_SECONDS": "1", "ASSISTANTD_WORKERS": "1"}
    ).start()
    model.default_reply = Text("recovered answer.")
    try:
        client = sdk_client(server)
        assistant_id = client.beta.assistants.create(model="gpt-4o").id
        busy = client.beta.threads.create(messages=[{"role": "user", "content": "long one"}])
        waiting = client.beta.threads.create(messages=[{"role": "user", "content": "short one"}])
        model.push(Text("interrupted " * 200, chunk_size=4, chunk_delay=0.02))
        first = client.beta.threads.runs.create(thread_id=busy.id, assistant_id=assistant_id)
        model.wait_for_requests(1)
        wait_for(lambda: client.beta.threads.messages.list(busy.id, run_id=first.id).data)
        second = client.beta.threads.runs.create(thread_id=waiting.id, assistant_id=assistant_id)
        assert client.beta.threads.runs.retrieve(second.id, thread_id=waiting.id).status == "queued"

        server.stop(sig)
        server.start()
        client = sdk_client(server)

        done_first = client.beta.threads.runs.poll(first.id, thread_id=busy.id, **POLL)
        done_second = client.beta.threads.runs.poll(second.id, thread_id=waiting.id, **POLL)
        assert (done_first.status, done_second.status) == ("completed", "completed")
        answers = client.beta.threads.messages.list(busy.id, run_id=first.id).data
        assert [(m.status, m.content[0].text.value) for m in answers] == [  # type: ignore[union-attr]
            ("completed", "recovered answer.")
        ], "the interrupted partial message is replaced by the resumed turn's"
        steps = client.beta.threads.runs.steps.list(first.id, thread_id=busy.id).data
        assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
        assert len(model.requests) == 3
    finally:
        model.default_reply = Text("ok")
        server.stop()


@pytest.mark.slow
def test_runs_expire_at_their_deadline(make_server: ServerFactory, model: ScriptedUpstream) -> None:
    server = make_server(env={"ASSISTANTD_RUN_EXPIRES_SECONDS": "2"}).start()
    try:
        client = sdk_client(server)
        assistant_id = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER]).id
        waiting = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
        model.push(ToolCalls([("get_weather", "{}")]))
        run = client.beta.threads.runs.create_and_poll(
            thread_id=waiting.id, assistant_id=assistant_id, **POLL
        )
        assert run.status == "requires_action"
        assert run.expires_at == run.created_at + 2

        slow = client.beta.threads.create(messages=[{"role": "user", "content": "story?"}])
        model.push(Text("and then " * 400, chunk_size=2, chunk_delay=0.02))
        slow_run = client.beta.threads.runs.create(thread_id=slow.id, assistant_id=assistant_id)

        # (The SDK's poll helper stops at requires_action, so wait by hand.)
        wait_for(
            lambda: (
                client.beta.threads.runs.retrieve(run.id, thread_id=waiting.id).status == "expired"
            )
        )
        expired = client.beta.threads.runs.retrieve(run.id, thread_id=waiting.id)
        assert expired.required_action is None
        step = client.beta.threads.runs.steps.list(run.id, thread_id=waiting.id).data[0]
        assert step.status == "expired"
        assert step.expired_at is not None
        with pytest.raises(openai.BadRequestError):
            client.beta.threads.runs.submit_tool_outputs(
                run.id,
                thread_id=waiting.id,
                tool_outputs=[{"tool_call_id": "call_x", "output": "late"}],
            )

        stopped = client.beta.threads.runs.poll(slow_run.id, thread_id=slow.id, **POLL)
        assert stopped.status == "expired"
        partial = client.beta.threads.messages.list(slow.id, run_id=slow_run.id).data[0]
        assert partial.status == "incomplete"
        assert partial.incomplete_details is not None
        assert partial.incomplete_details.reason == "run_expired"
    finally:
        server.stop()


def test_cancel_a_queued_run_and_a_cancelling_one(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(env={"ASSISTANTD_WORKERS": "1"}).start()
    try:
        client = sdk_client(server)
        assistant_id = client.beta.assistants.create(model="gpt-4o").id
        busy = client.beta.threads.create(messages=[{"role": "user", "content": "long"}])
        model.push(Text("slow " * 100, chunk_size=5, chunk_delay=0.03))
        running = client.beta.threads.runs.create(thread_id=busy.id, assistant_id=assistant_id)
        model.wait_for_requests(1)
        other = client.beta.threads.create(messages=[{"role": "user", "content": "short"}])
        queued = client.beta.threads.runs.create(thread_id=other.id, assistant_id=assistant_id)
        assert client.beta.threads.runs.retrieve(queued.id, thread_id=other.id).status == "queued"

        cancelled = client.beta.threads.runs.cancel(queued.id, thread_id=other.id)
        assert cancelled.status == "cancelled"
        assert cancelled.cancelled_at is not None

        first = client.beta.threads.runs.cancel(running.id, thread_id=busy.id)
        assert first.status == "cancelling"
        try:
            again = client.beta.threads.runs.cancel(running.id, thread_id=busy.id)
            assert again.status in ("cancelling", "cancelled"), "cancelling twice is no error"
        except openai.BadRequestError as exc:  # the worker finished cancelling in between
            assert "status 'cancelled'" in exc.body["message"]  # type: ignore[index]  # noqa: PT017
        final = client.beta.threads.runs.poll(running.id, thread_id=busy.id, **POLL)
        assert final.status == "cancelled"
        assert len(model.requests) == 1, "the cancelled queued run never reached the model"
        assert client.beta.threads.runs.retrieve(queued.id, thread_id=other.id).status == (
            "cancelled"
        )
    finally:
        server.stop()
