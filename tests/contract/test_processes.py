"""Several processes on one PostgreSQL: two `serve --no-workers` API processes and `assistantd
worker` processes. A stream served by either API process follows a run the worker executes,
with the same events as in one process; a worker killed mid-stream is replaced by another,
and the stream ends with the run's terminal event; a cancel sent to the other API process
reaches the worker at once; tool outputs submitted anywhere stream from wherever the run goes
on."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import upstream_env
from tests.support.postgres import PostgresCluster
from tests.support.server import ServerProcess
from tests.support.sse import RawStream, post_stream
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

HEADERS = {"Authorization": "Bearer sk-test", "OpenAI-Beta": "assistants=v2"}
LEASE_SECONDS = "2"


class Deployment:
    """The processes of one database: API processes and workers, stopped at the end."""

    def __init__(self, url: str, upstream: ScriptedUpstream, root: Path) -> None:
        self.url = url
        self.upstream = upstream
        self.root = root
        self.processes: list[ServerProcess] = []

    def process(self, name: str) -> ServerProcess:
        env = {**upstream_env(self.upstream), "ASSISTANTD_JOB_LEASE_SECONDS": LEASE_SECONDS}
        server = ServerProcess(data_dir=self.root / name, database_url=self.url, env=env)
        self.processes.append(server)
        return server

    def api(self, name: str) -> ServerProcess:
        return self.process(name).start("--no-workers")

    def worker(self, name: str) -> ServerProcess:
        return self.process(name).start_worker()

    def stop(self) -> None:
        for server in self.processes:
            server.stop()


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresCluster, upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    made = Deployment(postgres.new_database(), upstream, tmp_path_factory.mktemp("processes"))
    made.api("api-a")
    made.api("api-b")
    made.worker("worker-1")
    yield made
    made.stop()


def _client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=30)


def _assistant(api: httpx.Client, **more: object) -> str:
    response = api.post("/assistants", json={"model": "gpt-4o", **more})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _thread_and_run_stream(api: httpx.Client, assistant_id: str, question: str) -> RawStream:
    body = {
        "assistant_id": assistant_id,
        "stream": True,
        "thread": {"messages": [{"role": "user", "content": question}]},
    }
    return post_stream(api, "/threads/runs", body)


def _shape(stream: RawStream) -> list[str]:
    return stream.names


def _text(stream: RawStream) -> str:
    return "".join(
        part["text"]["value"]
        for delta in stream.data("thread.message.delta")
        for part in delta["delta"]["content"]
        if part.get("type") == "text"
    )


def test_streams_from_either_api_process_follow_a_run_the_worker_executes(
    deployment: Deployment, model: ScriptedUpstream
) -> None:
    api_a, api_b, _ = deployment.processes
    events = []
    for api_process, answer in [(api_a, "Answer through A."), (api_b, "Answer through B.")]:
        model.push(Text(answer, chunk_delay=0.01))
        with _client(api_process) as api:
            stream = _thread_and_run_stream(api, _assistant(api), "hello")
        assert _text(stream) == answer
        assert stream.names[-2:] == ["thread.run.completed", "done"]
        events.append(_shape(stream))
    assert events[0] == events[1]
    # The very events one process streams for the same reply (a fresh all-in-one server).
    single = deployment.process("single").start()
    try:
        model.push(Text("Answer through A.", chunk_delay=0.01))
        with _client(single) as api:
            alone = _thread_and_run_stream(api, _assistant(api), "hello")
    finally:
        single.stop()
    assert events[0] == _shape(alone)
    assert [r["messages"][-1]["content"] for r in model.requests] == ["hello"] * 3


def test_a_worker_killed_mid_stream_is_replaced_and_the_stream_ends_with_the_run(
    deployment: Deployment, model: ScriptedUpstream
) -> None:
    api_a = deployment.processes[0]
    first = deployment.processes[2]
    model.push(Text("x" * 400, chunk_size=4, chunk_delay=0.05), Text("Second attempt."))
    with _client(api_a) as api:
        assistant_id = _assistant(api)
        body = {
            "assistant_id": assistant_id,
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": "long"}]},
        }
        names: list[str] = []
        with api.stream("POST", "/threads/runs", json=body) as response:
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: "):
                    names.append(line[len("event: ") :])
                if names.count("thread.message.delta") == 3:
                    break
            first.stop(signal.SIGKILL)
            replacement = deployment.worker("worker-2")
            deployment.processes.remove(first)
            deployment.processes.remove(replacement)
            deployment.processes.insert(2, replacement)
            started = time.monotonic()
            for line in lines:
                if line.startswith("event: "):
                    names.append(line[len("event: ") :])
    assert names[-2:] == ["thread.run.completed", "done"]
    assert time.monotonic() - started < 15
    assert len(model.requests) == 2  # the second attempt asked the model again


def test_a_cancel_through_the_other_api_process_reaches_the_worker_at_once(
    deployment: Deployment, model: ScriptedUpstream
) -> None:
    """The model is still thinking (nothing streamed for 20 s): only the cancel's own signal,
    sent from API process B to the worker, can stop the turn, and it must do so at once."""
    api_a, api_b = deployment.processes[:2]
    model.push(Text("too late", delay=20))
    with _client(api_a) as api, _client(api_b) as other:
        body = {
            "assistant_id": _assistant(api),
            "stream": True,
            "thread": {"messages": [{"role": "user", "content": "cancel me"}]},
        }
        names: list[str] = []
        run: dict[str, str] = {}
        with api.stream("POST", "/threads/runs", json=body) as response:
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("event: "):
                    names.append(line[len("event: ") :])
                if line.startswith("data: {") and '"thread.run"' in line:
                    data = json.loads(line[len("data: ") :])
                    run = {"id": data["id"], "thread_id": data["thread_id"]}
                if names and names[-1] == "thread.run.in_progress" and run:
                    break
            model.wait_for_requests(1)
            sent = time.monotonic()
            cancelled = other.post(f"/threads/{run['thread_id']}/runs/{run['id']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelling"
            for line in lines:
                if line.startswith("event: "):
                    names.append(line[len("event: ") :])
        took = time.monotonic() - sent
        assert names[-2:] == ["thread.run.cancelled", "done"]
        assert took < 2.0, f"the cancel took {took:.2f} s to end the stream"
        final = other.get(f"/threads/{run['thread_id']}/runs/{run['id']}").json()
        assert final["status"] == "cancelled"


def test_tool_outputs_submitted_through_the_other_process_stream_to_the_end(
    deployment: Deployment, model: ScriptedUpstream
) -> None:
    api_a, api_b = deployment.processes[:2]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    model.push(ToolCalls([("lookup", '{"q": "x"}')]), Text("Looked it up."))
    with _client(api_a) as api, _client(api_b) as other:
        first = _thread_and_run_stream(api, _assistant(api, tools=tools), "look it up")
        assert first.names[-2:] == ["thread.run.requires_action", "done"]
        run = first.one("thread.run.requires_action")
        call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
        path = f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
        body = {"stream": True, "tool_outputs": [{"tool_call_id": call["id"], "output": "42"}]}
        resumed = post_stream(other, path, body)
    assert resumed.names[0] == "thread.run.step.completed"
    assert resumed.names[-2:] == ["thread.run.completed", "done"]
    assert _text(resumed) == "Looked it up."


def test_a_run_created_without_a_stream_is_executed_by_the_worker(
    deployment: Deployment, model: ScriptedUpstream
) -> None:
    model.push(Text("Polled answer."))
    with _client(deployment.processes[1]) as api:
        body = {
            "assistant_id": _assistant(api),
            "thread": {"messages": [{"role": "user", "content": "poll"}]},
        }
        run = api.post("/threads/runs", json=body).json()
        deadline = time.monotonic() + 10
        while run["status"] in ("queued", "in_progress") and time.monotonic() < deadline:
            time.sleep(0.05)
            run = api.get(f"/threads/{run['thread_id']}/runs/{run['id']}").json()
        assert run["status"] == "completed"
        messages = api.get(f"/threads/{run['thread_id']}/messages").json()["data"]
    assert messages[0]["content"][0]["text"]["value"] == "Polled answer."


def test_serve_without_workers_refuses_sqlite(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path)
    result = server.cli("serve", "--no-workers", "--port", "0")
    assert result.returncode == 2
    assert "serve --no-workers needs PostgreSQL" in result.stderr
