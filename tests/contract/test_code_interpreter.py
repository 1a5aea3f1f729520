"""code_interpreter in runs: the engine runs the model's code in the thread's sandbox session
with the run's files at /mnt/data, records logs and images, and saves what the code writes."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler

from tests.conftest import ServerFactory, sdk_client
from tests.support.files import upload
from tests.support.raw import http
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

POLL = {"poll_interval_ms": 20}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SALES = b"month,amount\njan,10\nfeb,20\nmar,30\n"
ANALYSIS = (
    "import pandas as pd\n"
    "import matplotlib.pyplot as plt\n"
    "df = pd.read_csv('/mnt/data/sales.csv')\n"
    "print(df['amount'].sum())\n"
    "df.plot(x='month', y='amount')\n"
    "plt.show()\n"
    "df.describe().to_csv('/mnt/data/summary.csv')\n"
)


def code_call(code: str) -> ToolCalls:
    return ToolCalls([("code_interpreter", json.dumps({"code": code}))])


def analyst(client: openai.OpenAI) -> str:
    return client.beta.assistants.create(
        model="gpt-4o",
        instructions="Analyze the uploaded CSV.",
        tools=[{"type": "code_interpreter"}],
    ).id


def sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("sandbox behaviour does not depend on the database")


def tool_output(request: dict[str, Any]) -> str:
    """What the model was told by the latest tool call of the conversation."""
    return str([m for m in request["messages"] if m["role"] == "tool"][-1]["content"])


def test_seed_csv_analysis_with_chart_and_file(
    client: openai.OpenAI, model: ScriptedUpstream
) -> None:
    csv_id = upload(client, "sales.csv", SALES)
    assistant_id = analyst(client)
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Total sales, a chart, and a summary file please.",
                "attachments": [{"file_id": csv_id, "tools": [{"type": "code_interpreter"}]}],
            }
        ]
    )
    answer = "Total: 60. Summary: sandbox:/mnt/data/summary.csv"
    model.push(code_call(ANALYSIS), Text(answer))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed", run.last_error

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    (call,) = steps[0].step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "code_interpreter"
    assert call.code_interpreter.input == ANALYSIS  # type: ignore[union-attr]
    outputs = call.code_interpreter.outputs  # type: ignore[union-attr]
    assert [o.type for o in outputs] == ["logs", "image"]
    assert outputs[0].logs.strip() == "60"  # type: ignore[union-attr]
    image_id = outputs[1].image.file_id  # type: ignore[union-attr]
    assert client.files.retrieve(image_id).purpose == "assistants_output"
    assert client.files.content(image_id).read().startswith(PNG_SIGNATURE)
    # The model heard the logs, the image and the saved file.
    told = tool_output(model.requests[-1])
    assert told.startswith("60")
    assert f"[image shown to the user as {image_id}]" in told
    assert "[file saved for the user: sandbox:/mnt/data/summary.csv]" in told

    message = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert [part.type for part in message.content] == ["image_file", "text"]
    assert message.content[0].image_file.file_id == image_id  # type: ignore[union-attr]
    text = message.content[1].text  # type: ignore[union-attr]
    assert text.value == answer
    (note,) = text.annotations
    assert note.type == "file_path"
    assert text.value[note.start_index : note.end_index] == "sandbox:/mnt/data/summary.csv"
    summary = client.files.content(note.file_path.file_id).read()  # type: ignore[union-attr]
    assert summary.startswith(b",month,amount") or summary.startswith(b",amount")


def test_session_state_survives_between_runs(
    client: openai.OpenAI, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    assistant_id = analyst(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Remember 41."}])
    model.push(code_call("x = 41"), Text("Stored."))
    first = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    client.beta.threads.messages.create(thread.id, role="user", content="Add one.")
    model.push(code_call("print(x + 1)"), Text("42."))
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert (first.status, second.status) == ("completed", "completed")
    assert tool_output(model.requests[-1]).splitlines()[0] == "42"


def test_errors_in_user_code_are_results(
    client: openai.OpenAI, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    assistant_id = analyst(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Divide."}])
    model.push(code_call("1 / 0"), Text("That fails."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    told = tool_output(model.requests[-1])
    assert "ZeroDivisionError" in told
    assert "Traceback" in told


def test_a_dead_kernel_gives_a_fresh_session(
    client: openai.OpenAI, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    assistant_id = analyst(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go."}])
    kill = "x = 1\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    model.push(code_call(kill), code_call("print(x)"), Text("Lost it."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    died, fresh = (tool_output(r) for r in model.requests[-2:])
    assert "The Python session stopped" in died
    assert "NameError" in fresh  # the new session does not know x


class CodeRecorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[str] = []
        self.logs: list[str] = []
        self.done: list[Any] = []

    def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
        if delta.type == "code_interpreter" and delta.code_interpreter:
            if delta.code_interpreter.input:
                self.inputs.append(delta.code_interpreter.input)
            for output in delta.code_interpreter.outputs or []:
                if output.type == "logs" and output.logs:
                    self.logs.append(output.logs)

    def on_tool_call_done(self, tool_call: Any) -> None:
        self.done.append(tool_call)


def test_code_and_logs_stream_as_deltas(
    client: openai.OpenAI, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    assistant_id = analyst(client)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Count."}])
    code = "for i in range(3):\n    print('line', i)"
    model.push(code_call(code), Text("Done."))
    handler = CodeRecorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert "".join(handler.inputs) == code
    assert "".join(handler.logs) == "line 0\nline 1\nline 2\n"
    # The SDK reports a call done at its step's end and again at the run's end.
    assert handler.done
    assert {done.code_interpreter.input for done in handler.done} == {code}


def test_without_a_sandbox_runs_fail_fast_and_health_says_why(
    make_server: ServerFactory, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    server = make_server(env={"ASSISTANTD_SANDBOX_PYTHON": "/nonexistent/python"}).start()
    try:
        with http(server) as api:
            health = api.get("health").json()
        assert health["status"] == "ok"
        assert health["code_interpreter"]["available"] is False
        assert "/nonexistent/python" in health["code_interpreter"]["reason"]
        client = sdk_client(server)
        assistant_id = analyst(client)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go."}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant_id, **POLL
        )
        assert run.status == "failed"
        assert run.last_error is not None
        assert run.last_error.message.startswith(
            "The code_interpreter tool is not available on this server:"
        )
        assert model.requests == []
    finally:
        server.stop()


def test_code_cannot_reach_the_server_or_its_data(
    client: openai.OpenAI, server: ServerProcess, model: ScriptedUpstream, backend: str
) -> None:
    sqlite_only(backend)
    database = server.data_dir / "assistantd.sqlite3"
    assert database.exists()
    probe = (
        "import socket\n"
        f"for path in [{str(database)!r}, '/etc/shadow', {str(server.data_dir)!r}]:\n"
        "    try:\n"
        "        open(path, 'rb').read(1)\n"
        "        print('READ', path)\n"
        "    except OSError as exc:\n"
        "        print('DENIED', type(exc).__name__)\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {server.port}), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except OSError as exc:\n"
        "    print('NO NETWORK', exc.errno)\n"
    )
    assistant_id = analyst(client)
    attacker = client.beta.threads.create(messages=[{"role": "user", "content": "Escape."}])
    model.push(code_call(probe), Text("Could not."))
    run = client.beta.threads.runs.create_and_poll(
        thread_id=attacker.id, assistant_id=assistant_id, **POLL
    )
    assert run.status == "completed"
    lines = tool_output(model.requests[-1]).splitlines()
    assert lines[:3] == ["DENIED FileNotFoundError"] * 3
    assert lines[3].startswith("NO NETWORK")
    # The server and other threads' sessions carry on.
    with http(server) as api:
        assert api.get("health").json()["status"] == "ok"
    other = client.beta.threads.create(messages=[{"role": "user", "content": "Add."}])
    model.push(code_call("print(2 + 2)"), Text("4."))
    fine = client.beta.threads.runs.create_and_poll(
        thread_id=other.id, assistant_id=assistant_id, **POLL
    )
    assert fine.status == "completed"
    assert tool_output(model.requests[-1]).splitlines()[0] == "4"
