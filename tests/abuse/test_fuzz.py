"""Fuzzing: schemathesis generates requests, valid and invalid, from OpenAI's OpenAPI description
(the excerpt in tests/data/openai-spec: the operations assistantd serves) and sends them to a
real server on each database. No response may be a 5xx, and every error must be exactly the
envelope {"error": {"message", "type", "param", "code"}}.

Path ids, and the ids a body names (`assistant_id`, `file_ids`, `tool_call_id`...), are real
objects in about half the cases (a fresh assistant, thread, message, run waiting for tool
outputs, step, file, vector store and file batch for every operation), so the generated
requests reach the services and not only the 404 of an unknown id.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from assistantd.api.app import create_app
from assistantd.settings import Settings
from tests.conftest import ServerFactory, upstream_env
from tests.support.openapi import load_spec
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, ToolCalls

pytestmark = pytest.mark.slow

# Examples per operation and backend: 46 operations x 2 backends x 25 is about 2,300 requests.
# FUZZ_EXAMPLES=500 digs deeper by hand.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
TIMEOUT = 30.0
HEADERS = {"Authorization": "Bearer sk-fuzz", "OpenAI-Beta": "assistants=v2"}
MODEL = "gpt-4o"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ENVELOPE_KEYS = {"message", "type", "param", "code"}
# Ours, not OpenAI's: no description to generate from.
EXTENSIONS = {("GET", "/health"), ("GET", "/threads")}


def operations() -> list[Any]:
    """Every operation of the excerpt, as schemathesis `APIOperation`s."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(load_spec()))
    return [result.ok() for result in schema.get_all_operations()]


def template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def test_the_fuzzed_operations_are_the_served_ones() -> None:
    served = {
        (method, template(route.path.removeprefix("/v1")))
        for route in create_app(Settings()).routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    fuzzed = {(op.method.upper(), template(op.path)) for op in operations()}
    assert fuzzed == served - EXTENSIONS


def envelope_problem(status: int, payload: bytes) -> str | None:
    """Why a response breaks the rules, or None."""
    if status >= 500:
        return f"status {status}"
    if status < 400:
        return None
    try:
        body = httpx.Response(status, content=payload).json()
    except ValueError:
        return f"{status} with a body that is not JSON"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"{status} without the error envelope"
    error = body["error"]
    if set(error) != ENVELOPE_KEYS:
        return f"{status} envelope keys {sorted(error)}"
    if not isinstance(error["message"], str) or not error["message"]:
        return f"{status} envelope without a message"
    if not isinstance(error["type"], str):
        return f"{status} envelope type {error['type']!r}"
    if not all(error[key] is None or isinstance(error[key], str) for key in ("param", "code")):
        return f"{status} envelope param/code not strings"
    return None


@dataclass
class Findings:
    """The shortest reproduction of each (operation, problem), and how many cases were sent."""

    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    worst: dict[tuple[str, str], str] = field(default_factory=dict)

    def record(self, label: str, problem: str, reproduction: str) -> None:
        known = self.worst.get((label, problem))
        if known is None or len(reproduction) < len(known):
            self.worst[(label, problem)] = reproduction

    def report(self) -> str:
        return "\n\n".join(
            f"{label}: {problem}\n  {repro}"
            for (label, problem), repro in sorted(self.worst.items())
        )


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def real_objects(http: httpx.Client, upstream: ScriptedUpstream) -> dict[str, str]:
    """A fresh object for every path parameter the spec names, keyed by that name."""
    file_id = _created(
        http.post(
            "/files",
            files={"file": ("notes.txt", b"Fuzzing notes.")},
            data={"purpose": "assistants"},
        )
    )["id"]
    assistant = _created(http.post("/assistants", json={"model": MODEL, "tools": [WEATHER_TOOL]}))
    thread = _created(http.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}))
    message = _created(http.get(f"/threads/{thread['id']}/messages"))["data"][0]
    upstream.push(ToolCalls([("get_weather", '{"city": "Oslo"}')]))
    run = _created(
        http.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]})
    )
    deadline = time.monotonic() + 10
    while run["status"] in ("queued", "in_progress") and time.monotonic() < deadline:
        time.sleep(0.02)
        run = _created(http.get(f"/threads/{thread['id']}/runs/{run['id']}"))
    steps = _created(http.get(f"/threads/{thread['id']}/runs/{run['id']}/steps"))["data"]
    store = _created(http.post("/vector_stores", json={"file_ids": [file_id]}))
    batch = _created(
        http.post(f"/vector_stores/{store['id']}/file_batches", json={"file_ids": [file_id]})
    )
    model = _created(http.get("/models"))["data"][0]["id"]
    objects = {
        "assistant_id": assistant["id"],
        "thread_id": thread["id"],
        "message_id": message["id"],
        "run_id": run["id"],
        "file_id": file_id,
        "vector_store_id": store["id"],
        "batch_id": batch["id"],
        "model": model,
    }
    if steps:
        objects["step_id"] = steps[0]["id"]
    if run["status"] == "requires_action":
        calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        objects["tool_call_id"] = calls[0]["id"]
    return objects


# Body fields that name objects, and the real object (or list of one) put there.
BODY_IDS = {
    "assistant_id": "assistant_id",
    "file_id": "file_id",
    "tool_call_id": "tool_call_id",
    "file_ids": "file_id",
    "vector_store_ids": "vector_store_id",
}


def with_real_ids(value: Any, objects: dict[str, str]) -> Any:
    """`value` (a generated body) with every id field naming a real object."""
    if isinstance(value, list):
        return [with_real_ids(item, objects) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        name = BODY_IDS.get(key)
        if name in objects and isinstance(item, list):
            out[key] = [objects[name]] if item else item
        elif name in objects and isinstance(item, str):
            out[key] = objects[name]
        else:
            out[key] = with_real_ids(item, objects)
    return out


def fuzz_operation(
    operation: Any, server: ServerProcess, upstream: ScriptedUpstream, findings: Findings
) -> None:
    with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=TIMEOUT) as http:
        objects = real_objects(http, upstream)
    names = [parameter.name for parameter in operation.path_parameters]
    real = {name: objects[name] for name in names if name in objects}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=real) for mode in modes
        ]
    session = requests.Session()

    @given(case=st.one_of(strategies), real_body=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any, real_body: bool) -> None:
        if real_body and isinstance(case.body, dict):
            case.body = with_real_ids(case.body, objects)
        try:
            response = case.call(
                base_url=server.base_url, session=session, headers=HEADERS, timeout=TIMEOUT
            )
        except requests.RequestException as error:
            problem, status = f"no response ({type(error).__name__})", 0
        else:
            status = response.status_code
            problem = envelope_problem(status, response.content)
        findings.sent += 1
        findings.statuses[status] = findings.statuses.get(status, 0) + 1
        if problem is not None:
            reproduction = case.as_curl_command(headers=HEADERS, base_url=server.base_url)
            findings.record(f"{operation.method.upper()} {operation.path}", problem, reproduction)

    try:
        send()
    finally:
        session.close()


@pytest.fixture(scope="module")
def fuzz_upstream() -> Iterator[ScriptedUpstream]:
    """The fuzzed server's own model: its runs must not eat replies scripted by other tests."""
    with ScriptedUpstream() as scripted:
        yield scripted


@pytest.fixture(scope="module")
def fuzz_server(
    make_server: ServerFactory, fuzz_upstream: ScriptedUpstream
) -> Iterator[ServerProcess]:
    """One server per backend for every operation; stopped with the module, so that runs the
    fuzzing left behind end with it."""
    server = make_server(env=upstream_env(fuzz_upstream), with_upstream=False).start()
    before = rss_mb(server)
    yield server
    # Not asserted (no figure is a target); shown with -s, for memory growth under abuse.
    print(f"\nfuzzed server RSS: {before:.0f} MB at start, {rss_mb(server):.0f} MB at the end")
    server.stop()


def rss_mb(server: ServerProcess) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kilobytes = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(kilobytes.group(1)) / 1024 if kilobytes else float("nan")


@pytest.mark.parametrize("operation", operations(), ids=lambda op: f"{op.method.upper()} {op.path}")
def test_fuzzed_requests_never_fail_the_server(
    operation: Any, fuzz_server: ServerProcess, fuzz_upstream: ScriptedUpstream
) -> None:
    findings = Findings()
    fuzz_operation(operation, fuzz_server, fuzz_upstream, findings)
    assert findings.sent >= EXAMPLES // 2, findings.sent
    if findings.worst:
        pytest.fail(f"{len(findings.worst)} problem(s):\n{findings.report()}", pytrace=False)
