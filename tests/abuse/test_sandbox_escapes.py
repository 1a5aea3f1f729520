"""Sandbox escapes through a real server: code run by code_interpreter finds nothing of the
server (environment, command line, descriptors, files, sockets) nor of another session."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import sdk_client, upstream_env
from tests.sandbox.conftest import SANDBOX_PYTHON
from tests.sandbox.probes import FIXED_ENV_NAMES, ScanReport, scan_code, socket_inodes
from tests.sandbox.test_escapes import host_uid, kernel_must_not_be_host_root
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 20}


def code_call(code: str) -> ToolCalls:
    return ToolCalls([("code_interpreter", json.dumps({"code": code}))])


@pytest.fixture
def canary() -> str:
    return f"canary-{secrets.token_hex(16)}"


@pytest.fixture
def secret_server(
    canary: str, upstream: ScriptedUpstream, tmp_path: Path
) -> Iterator[ServerProcess]:
    """A server whose environment holds the canary as its upstream and OpenAI keys, and whose
    command line holds it in the data folder's path: so do its database, its log and every
    session folder it keeps on the host."""
    if not SANDBOX_PYTHON.exists():
        pytest.skip("the sandbox Python is not installed (make sandbox)")
    env = upstream_env(upstream)
    env.update(
        {
            "ASSISTANTD_UPSTREAM_API_KEY": f"sk-{canary}",
            "OPENAI_API_KEY": f"sk-{canary}",
            "ASSISTANTD_SANDBOX_PYTHON": str(SANDBOX_PYTHON),
        }
    )
    server = ServerProcess(data_dir=tmp_path / f"data-{canary}", env=env)
    server.start()
    yield server
    server.stop()


def run_code(client: openai.OpenAI, model: ScriptedUpstream, thread_id: str, code: str) -> str:
    """Run `code` through a run of the thread; the logs of its code_interpreter call."""
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
    client.beta.threads.messages.create(thread_id, role="user", content="Run it.")
    model.push(code_call(code), Text("Done."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant.id, **POLL
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    outputs = call.code_interpreter.outputs  # type: ignore[union-attr]
    return "".join(o.logs for o in outputs if o.type == "logs")  # type: ignore[union-attr]


def kernel_host_uids(server_pid: int) -> list[int]:
    """Host uids of the server's ipykernel processes (its descendants)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    uids = []
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor != server_pid:
            ancestor = parents.get(ancestor)
        if ancestor != server_pid:
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            # bwrap and its init carry the kernel's command line too: keep the kernel only.
            if b"ipykernel_launcher" in argv and not argv[0].endswith(b"bwrap"):
                uids.append(host_uid(pid))
        except OSError:
            continue
    return uids


@pytest.mark.slow
def test_the_server_and_other_sessions_are_invisible(
    secret_server: ServerProcess, model: ScriptedUpstream, canary: str
) -> None:
    client = sdk_client(secret_server)
    # The bystander: a live session that keeps state and a file holding the canary.
    bystander = client.beta.threads.create().id
    plant = (
        f"marker = 'still here'\n"
        f"open('/mnt/data/bystander.txt', 'wb').write(bytes.fromhex({canary.encode().hex()!r}))\n"
        "print('planted')"
    )
    assert run_code(client, model, bystander, plant) == "planted\n"

    scanner = client.beta.threads.create().id
    report = ScanReport.parse(run_code(client, model, scanner, scan_code(canary)))
    assert secret_server.process is not None
    server_pid = secret_server.process.pid
    server_sockets = socket_inodes(server_pid)
    uids = kernel_host_uids(server_pid)

    assert report.hits == []
    assert report.read > 300
    assert report.walked > 1000
    assert 1 in report.pids
    assert len(report.pids) < 5
    assert sorted(report.environ) == sorted(report.cmdline) == report.pids
    for pid, names in report.environ.items():
        assert set(names) <= set(FIXED_ENV_NAMES) | {"PWD"}, (pid, names)
    assert server_sockets  # the server does listen: the comparison below means something
    assert not report.descriptor_targets() & server_sockets
    assert (report.uid, report.gid) == (1000, 1000)
    assert len(uids) == 2  # the bystander's kernel and the scanner's
    if kernel_must_not_be_host_root():
        assert 0 not in uids

    # The bystander is unharmed: same kernel, same state, its file intact.
    check = "print(marker, len(open('/mnt/data/bystander.txt', 'rb').read()))"
    assert run_code(client, model, bystander, check) == f"still here {len(canary)}\n"
