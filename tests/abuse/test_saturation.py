"""Saturation: every worker busy with slow runs, a lease shorter than a run, and streamed and
polled runs waiting for a slot. Each run must be executed by exactly one attempt: one model call
per turn, one assistant message and one message_creation step, nothing left in_progress."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text

WORKERS = 2
LEASE_SECONDS = 1  # shorter than a run, and than the wait of every queued run
# 20 chunks 0.1 s apart: about 2 s per run, two leases.
ANSWER = "slow answer " * 20
SLOW = Text(ANSWER, chunk_size=12, chunk_delay=0.1)
BUSY, STREAMED, POLLED = 2, 6, 4


def question(n: int) -> str:
    return f"question number {n}"


def asked(body: dict[str, Any]) -> str | None:
    """The question a model request was about (each thread asks its own)."""
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, str):
            return content
    return None


def streamed_run(server: ServerProcess, assistant_id: str, thread_id: str) -> list[str]:
    client = sdk_client(server)
    with client.beta.threads.runs.create(
        thread_id=thread_id, assistant_id=assistant_id, stream=True
    ) as stream:
        return [event.event for event in stream]


def polled_run(server: ServerProcess, assistant_id: str, thread_id: str) -> str:
    client = sdk_client(server)
    run = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id)
    return client.beta.threads.runs.poll(run.id, thread_id=thread_id, poll_interval_ms=100).status


@pytest.mark.slow
def test_every_turn_calls_the_model_once_when_workers_are_saturated(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(
        env={
            "ASSISTANTD_WORKERS": str(WORKERS),
            "ASSISTANTD_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        }
    ).start()
    model.default_reply = SLOW
    try:
        client = sdk_client(server)
        assistant_id = client.beta.assistants.create(model="gpt-4o", instructions="Be slow.").id
        total = BUSY + STREAMED + POLLED
        thread_ids = [
            client.beta.threads.create(messages=[{"role": "user", "content": question(n)}]).id
            for n in range(total)
        ]
        busy = [
            client.beta.threads.runs.create(thread_id=t, assistant_id=assistant_id)
            for t in thread_ids[:BUSY]
        ]
        model.wait_for_requests(BUSY)  # every worker is busy now
        with ThreadPoolExecutor(max_workers=STREAMED + POLLED) as pool:
            streams = [
                pool.submit(streamed_run, server, assistant_id, t)
                for t in thread_ids[BUSY : BUSY + STREAMED]
            ]
            polls = [
                pool.submit(polled_run, server, assistant_id, t)
                for t in thread_ids[BUSY + STREAMED :]
            ]
            stream_events = [future.result(timeout=120) for future in streams]
            poll_statuses = [future.result(timeout=120) for future in polls]
        for run in busy:
            final = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
            assert final.status == "completed"
        assert poll_statuses == ["completed"] * POLLED
        for events in stream_events:
            assert events.count("thread.run.in_progress") == 1, events
            assert events.count("thread.message.created") == 1, events
            assert events.count("thread.message.completed") == 1, events
            assert events[-1] == "thread.run.completed", events

        calls: dict[str | None, int] = {}
        for body in model.requests:
            calls[asked(body)] = calls.get(asked(body), 0) + 1
        assert calls == {question(n): 1 for n in range(total)}, "a turn called the model twice"
        for body in model.requests:
            assert body["messages"][0] == {"role": "system", "content": "Be slow."}

        for thread_id in thread_ids:
            runs = client.beta.threads.runs.list(thread_id=thread_id).data
            assert [r.status for r in runs] == ["completed"]
            (run,) = runs
            assert run.usage is not None
            answers = client.beta.threads.messages.list(thread_id, run_id=run.id).data
            assert [
                (m.role, m.status, m.content[0].text.value)  # type: ignore[union-attr]
                for m in answers
            ] == [("assistant", "completed", ANSWER)]
            steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data
            assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
            assert steps[0].step_details.message_creation.message_id == answers[0].id  # type: ignore[union-attr]
    finally:
        model.default_reply = Text("ok")
        server.stop()
