"""The client's function calls: how they stream, and the checks a call must pass before the
client is asked for its output (a malformed call is answered by the server instead)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from assistantd.engine.run.turn import Call
from assistantd.wire.deltas import FunctionDelta, FunctionToolCallDelta, ToolCallDelta


class FunctionCallStream:
    """Announced with its name and the arguments so far; then each fragment of arguments."""

    def __init__(self, name: str) -> None:
        self._name = name

    def announce(self, call_id: str, index: int, arguments: str, fragment: str) -> ToolCallDelta:
        return FunctionToolCallDelta(
            index=index,
            id=call_id,
            function=FunctionDelta(name=self._name, arguments=arguments, output=None),
        )

    def more(self, index: int, fragment: str) -> ToolCallDelta | None:
        if not fragment:
            return None
        return FunctionToolCallDelta(index=index, function=FunctionDelta(arguments=fragment))


def call_problem(call: Call, known: set[str]) -> str | None:
    """Why the client cannot be handed this call (unknown function, arguments that are not a
    JSON object), or None."""
    if call.name not in known:
        return f"there is no function named '{call.name}'"
    if not call.arguments.strip():
        return None
    try:
        parsed = json.loads(call.arguments)
    except json.JSONDecodeError as exc:
        return f"the arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(parsed, dict):
        return "the arguments must be a JSON object"
    return None


def with_outputs(details: Mapping[str, Any], outputs: Mapping[str, str]) -> dict[str, Any]:
    """A waiting tool step's details with the client's outputs written into its calls."""
    return {
        **details,
        "tool_calls": [
            {**item, "function": {**item["function"], "output": outputs[item["id"]]}}
            if item["id"] in outputs
            else item
            for item in details["tool_calls"]
        ],
    }
