"""A run's `required_action`: the function calls the client must answer with tool outputs."""

from __future__ import annotations

from typing import Literal

from assistantd.wire.base import ResponseModel


class RequiredFunction(ResponseModel):
    name: str
    arguments: str


class RequiredToolCall(ResponseModel):
    id: str
    type: Literal["function"] = "function"
    function: RequiredFunction


class SubmitToolOutputsAction(ResponseModel):
    tool_calls: list[RequiredToolCall]


class RequiredAction(ResponseModel):
    """Stored as its JSON in the run row (`model_dump(mode="json")`); `run_from_row` reads it."""

    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputsAction
