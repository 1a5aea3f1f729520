"""The end of a turn that called tools: the server runs its own tools' calls and the model
goes on; the client's function calls make the run `requires_action`. A malformed call is
never handed to the client: every call of its turn is answered with an explanation instead,
and the model tries again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.run.endings import Ending, server_error
from assistantd.engine.run.fencing import attempt_write
from assistantd.engine.run.function_calls import call_problem
from assistantd.engine.run.outcome import Next, Outcome
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.turn import Call, Turn
from assistantd.engine.tools import (
    ServerTools,
    StoredCall,
    ToolCall,
    ToolUnavailable,
    unavailable_message,
)
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim
from assistantd.wire.run_actions import (
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    SubmitToolOutputsAction,
)
from assistantd.wire.run_status import RunStatus
from assistantd.wire.run_steps import (
    FunctionCall,
    FunctionToolCall,
    stored_tool_call,
    stored_tool_calls,
)

NOT_RUN = "error: not executed because another call in the same turn was invalid; call it again"


class ToolCallHandler:
    def __init__(
        self, db: Database, publisher: RunPublisher, clock: Clock, tools: ServerTools
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._clock = clock
        self._tools = tools

    async def finish(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        turn: Turn,
        turn_usage: dict[str, int],
        usage: dict[str, int],
    ) -> Outcome:
        calls = sorted(turn.calls.values(), key=lambda c: c.index)
        server_tools = self._tools.of_run(run["tools"])
        for call in calls:  # by the whole name: it may have streamed in parts
            call.tool = server_tools.get(call.name)
        known = {t["function"]["name"] for t in run["tools"] if t["type"] == "function"}
        problems = {c.id: None if c.tool else call_problem(c, known) for c in calls}
        invalid = any(problems.values())
        ordinals = dict(turn.calls_before)
        items: list[StoredCall] = []
        for call in calls:
            problem = problems[call.id]
            if call.tool is None:
                output = None
                if invalid:
                    output = f"error: {problem}" if problem else NOT_RUN
                items.append(_function_item(call, output))
                continue
            request = ToolCall(
                run=run,
                call_id=call.id,
                index=call.index,
                arguments=call.arguments,
                ordinal=ordinals.get(call.tool.name, 0),
                progress=lambda delta: self._publisher.tool_call(
                    run["id"], str(turn.tool_step_id), delta
                ),
            )
            ordinals[call.tool.name] = request.ordinal + 1
            if invalid:
                items.append(call.tool.not_run(request, NOT_RUN))
                continue
            try:
                items.append(await call.tool.run(request))
            except ToolUnavailable as exc:
                return server_error(unavailable_message(call.tool.name, str(exc)))
        assert turn.tool_step_id is not None
        details = stored_tool_calls(items)
        client_calls = [c for c in calls if c.tool is None]
        if invalid or not client_calls:
            async with attempt_write(self._db, claim) as conn:
                step = await run_store.set_step(
                    conn,
                    turn.tool_step_id,
                    {
                        "status": "completed",
                        "completed_at": self._clock(),
                        "step_details": details,
                        "usage": turn_usage,
                    },
                )
                await run_store.set_run(conn, run["id"], {"usage": usage})
            if step is not None:
                self._publisher.step(step, "completed")
            return Next.CONTINUE
        required = RequiredAction(
            submit_tool_outputs=SubmitToolOutputsAction(
                tool_calls=[
                    RequiredToolCall(
                        id=c.id,
                        function=RequiredFunction(name=c.name, arguments=c.arguments or "{}"),
                    )
                    for c in client_calls
                ]
            )
        )
        async with attempt_write(self._db, claim) as conn:
            await run_store.set_step(
                conn, turn.tool_step_id, {"step_details": details, "usage": turn_usage}
            )
            updated = await run_store.move_run(
                conn,
                run["id"],
                RunStatus.REQUIRES_ACTION,
                (RunStatus.IN_PROGRESS,),
                {"required_action": required.model_dump(mode="json"), "usage": usage},
            )
        if updated is None:
            return Ending(RunStatus.CANCELLED)
        self._publisher.run(updated, RunStatus.REQUIRES_ACTION)
        return Next.DONE


def _function_item(call: Call, output: str | None) -> StoredCall:
    return stored_tool_call(
        FunctionToolCall(
            id=call.id,
            function=FunctionCall(name=call.name, arguments=call.arguments or "{}", output=output),
        )
    )
