"""The programs of the seed documents (the two the project started from) run unchanged.

They are the documents' own code, re-indented (the documents lost their indentation), run as
separate processes; only the environment points them at our server, as a user would with
`OPENAI_BASE_URL` and a dummy key.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text, ToolCalls

THREADS_PROGRAM = """
from openai import OpenAI
import json
client = OpenAI()
thread = client.beta.threads.create()
print(f"Thread created: {thread.id}")
client.beta.threads.messages.create(
    thread_id=thread.id,
    role="user",
    content="What is the capital of France?"
)
assistant = client.beta.assistants.create(
    name="Geography Expert",
    model="gpt-4-1106-preview",
    instructions="You are a geography expert. Answer geography questions concisely."
)
run = client.beta.threads.runs.create(
    thread_id=thread.id,
    assistant_id=assistant.id
)
import time
while run.status != "completed":
    run = client.beta.threads.runs.retrieve(
        thread_id=thread.id,
        run_id=run.id
    )
    if run.status == "failed":
        print(f"Run failed: {run.last_error}")
        break
    time.sleep(1)
messages = client.beta.threads.messages.list(thread_id=thread.id)
for msg in messages.data:
    if msg.role == "assistant":
        print(f"Assistant: {msg.content[0].text.value}")
    else:
        print(f"User: {msg.content[0].text.value}")
"""

FUNCTION_PROGRAM = """
import json
from openai import OpenAI

client = OpenAI()

def dispatch_function(name, arguments):
    assert name == "get_order_status", name
    return {"order_id": arguments["order_id"], "status": "shipped"}

assistant = client.beta.assistants.create(
    name="Support Agent",
    instructions="Use the tools to answer.",
    model="gpt-4o",
    tools=[{
        "type": "function",
        "function": {
            "name": "get_order_status",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }],
)
thread = client.beta.threads.create()
client.beta.threads.messages.create(
    thread_id=thread.id, role="user", content="Where is order 42?"
)
run = client.beta.threads.runs.create_and_poll(
    thread_id=thread.id,
    assistant_id=assistant.id
)
if run.status == "requires_action":
    tool_outputs = []
    for tool_call in run.required_action.submit_tool_outputs.tool_calls:
        result = dispatch_function(
            tool_call.function.name,
            json.loads(tool_call.function.arguments)
        )
        tool_outputs.append({
            "tool_call_id": tool_call.id,
            "output": json.dumps(result)
        })

    # Resume the run with tool results
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=tool_outputs
    )
print(run.status)
messages = client.beta.threads.messages.list(thread_id=thread.id)
print(messages.data[0].content[0].text.value)
"""


def run_program(server: ServerProcess, source: str, cwd: Path | None = None) -> str:
    env = server.environment()
    env.update({"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-dummy"})
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_threads_seed_program(server: ServerProcess, model: ScriptedUpstream) -> None:
    model.push(Text("Paris."))
    output = run_program(server, THREADS_PROGRAM).splitlines()
    assert output[0].startswith("Thread created: thread_")
    assert output[1:] == ["Assistant: Paris.", "User: What is the capital of France?"]
    assert model.requests[-1]["model"] == "gpt-4-1106-preview"


def test_requires_action_seed_program(server: ServerProcess, model: ScriptedUpstream) -> None:
    model.push(
        ToolCalls([("get_order_status", '{"order_id": "42"}')]),
        Text("Order 42 has shipped."),
    )
    output = run_program(server, FUNCTION_PROGRAM).splitlines()
    assert output == ["completed", "Order 42 has shipped."]
    tool_message = model.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"] == '{"order_id": "42", "status": "shipped"}'
