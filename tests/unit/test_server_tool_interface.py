"""The server-tool interface with a tool the server does not ship: a die the engine rolls
itself. Registered in `ServerTools` and nowhere else, it is offered to the model, its call
streams and runs, its step is recorded, and the model goes on with its output."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from assistantd.compose import build_executor
from assistantd.engine.bus import EventBus
from assistantd.engine.route_limits import RouteGate
from assistantd.engine.tools import CallStream, ServerTools, StoredCall, ToolCall
from assistantd.providers.base import ChatDelta, ChatRequest, ToolCallDelta
from assistantd.providers.routing import Route
from assistantd.service.stream_events import sse_event
from assistantd.settings import Settings
from assistantd.store import jobs as job_store
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim
from assistantd.store.tables import runs, threads
from assistantd.wire import deltas
from assistantd.wire.run_steps import FunctionCall, FunctionToolCall, step_from_row
from assistantd.wire.run_steps import stored_tool_call as stored
from tests.support.run_rows import run_row, thread_row
from tests.support.sqlite_db import migrated_sqlite

# --- the tool: one module's worth -------------------------------------------------------------

DICE_FUNCTION = {
    "type": "function",
    "function": {
        "name": "dice",
        "description": "Roll a die with the given number of sides.",
        "parameters": {
            "type": "object",
            "properties": {"sides": {"type": "integer"}},
            "required": ["sides"],
        },
    },
}


class _DiceCallStream:
    """Announced by name; the arguments are not shown as they stream."""

    def announce(
        self, call_id: str, index: int, arguments: str, fragment: str
    ) -> deltas.ToolCallDelta:
        return deltas.FunctionToolCallDelta(
            index=index, id=call_id, function=deltas.FunctionDelta(name="dice", output=None)
        )

    def more(self, index: int, fragment: str) -> deltas.ToolCallDelta | None:
        return None


class DiceTool:
    """Rolls a loaded die: always `sides - 2`, so the test knows the answer."""

    name = "dice"

    def function(self) -> dict[str, Any]:
        return DICE_FUNCTION

    def unavailable_reason(self) -> str | None:
        return None

    def call_stream(self) -> CallStream:
        return _DiceCallStream()

    async def run(self, call: ToolCall) -> StoredCall:
        rolled = str(json.loads(call.arguments)["sides"] - 2)
        call.progress(
            deltas.FunctionToolCallDelta(
                index=call.index, function=deltas.FunctionDelta(output=rolled)
            )
        )
        return self._item(call, rolled)

    def not_run(self, call: ToolCall, output: str) -> StoredCall:
        return self._item(call, output)

    def _item(self, call: ToolCall, output: str) -> StoredCall:
        recorded = FunctionCall(name="dice", arguments=call.arguments, output=output)
        model = {"name": "dice", "arguments": call.arguments, "output": output}
        return stored(FunctionToolCall(id=call.call_id, function=recorded), model=model)


# --- a scripted model -------------------------------------------------------------------------


class ScriptedModel:
    """First turn: calls the die in two fragments; second turn: answers with its output."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        self.requests.append(request)
        if len(self.requests) == 1:
            yield ChatDelta(
                tool_calls=[ToolCallDelta(index=0, id="up_1", name="dice", arguments='{"sides":')]
            )
            yield ChatDelta(tool_calls=[ToolCallDelta(index=0, arguments=" 6}")])
            yield ChatDelta(finish_reason="tool_calls")
            return
        tool_result = request.messages[-1]
        yield ChatDelta(content=f"You rolled {tool_result['content']}.")
        yield ChatDelta(finish_reason="stop")


class OneRoute:
    def __init__(self, model: ScriptedModel) -> None:
        self.model = model

    def resolve(self, name: str) -> tuple[Route, ScriptedModel]:
        route = Route(
            base_url="http://unused",
            api_key="",
            upstream_model=None,
            context_length=8192,
            include_usage=False,
        )
        return route, self.model


class NoImages:
    async def data_urls(self, project_id: str, file_ids: list[str]) -> dict[str, str]:
        return {}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with migrated_sqlite(tmp_path / "dice.sqlite3") as database:
        yield database


def test_a_registered_server_tool_is_offered_streamed_run_and_recorded(db: Database) -> None:
    model = ScriptedModel()
    bus = EventBus()
    unused: Any = None
    executor, _ = build_executor(
        Settings(),
        db,
        bus,
        lambda: int(time.time()),
        OneRoute(model),  # type: ignore[arg-type]
        ServerTools([DiceTool()]),
        unused,  # file_search's runner: this run has no file_search
        NoImages(),  # type: ignore[arg-type]
        RouteGate({}),
    )

    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        async with db.write() as conn:
            await conn.execute(insert(threads), thread_row("thread_d"))
            await conn.execute(insert(runs), run_row("run_d", "thread_d", tools=[{"type": "dice"}]))
            job_id = await job_store.enqueue(
                conn, "run", "run_d", 0, owner="wrk", lease_until_ms=10**15
            )
        following = bus.subscribe("run_d")
        await executor.execute("run_d", Claim(job_id, "wrk", 1))
        async with db.read() as conn:
            run = await run_store.get_run(conn, "run_d")
            steps = await run_store.steps_of(conn, "run_d")
        return run, steps, following.ready()

    run, steps, events = asyncio.run(scenario())

    # Offered to the model as the function the engine runs itself, and never to the client.
    assert model.requests[0].tools == [DICE_FUNCTION]
    assert run["status"] == "completed"
    assert run["required_action"] is None
    # The model's second turn saw the call and the tool's output.
    assert model.requests[1].messages[-2]["tool_calls"][0]["function"] == {
        "name": "dice",
        "arguments": '{"sides": 6}',
    }
    assert model.requests[1].messages[-1]["content"] == "4"
    # The step records the call as the tool built it, in the wire's shape.
    tool_step = step_from_row(steps[0]).model_dump(mode="json")
    assert tool_step["status"] == "completed"
    call = tool_step["step_details"]["tool_calls"][0]
    assert call["function"] == {"name": "dice", "arguments": '{"sides": 6}', "output": "4"}
    assert steps[1]["step_details"]["type"] == "message_creation"

    stream = [sse_event(event) for event in events]
    assert [name for name, _ in stream] == [
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.run.step.delta",  # announced by the tool's call stream
        "thread.run.step.delta",  # its output, streamed while it ran
        "thread.run.step.completed",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    announced, progress = (
        data["delta"]["step_details"]["tool_calls"][0] for _, data in stream[3:5]
    )
    assert announced == {
        "index": 0,
        "id": call["id"],
        "type": "function",
        "function": {"name": "dice", "output": None},
    }
    assert progress == {"index": 0, "type": "function", "function": {"output": "4"}}
    assert stream[10][1]["delta"]["content"][0]["text"]["value"] == "You rolled 4."


def test_a_run_offers_only_the_server_tools_it_enabled() -> None:
    tools = ServerTools([DiceTool()])
    assert tools.chat_tools([]) is None
    assert tools.chat_tools([{"type": "code_interpreter"}]) is None  # not registered here
    assert list(tools.of_run([{"type": "dice"}])) == ["dice"]
    assert tools.unavailable([{"type": "dice"}]) is None
