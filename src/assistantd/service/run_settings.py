"""A new run's row: the request's overrides over the assistant's settings, checked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistantd.errors import InvalidRequestError
from assistantd.service.caller import Caller
from assistantd.service.rules import check_tools
from assistantd.wire.run_status import RunStatus
from assistantd.wire.run_steps import FILE_SEARCH_CONTENT
from assistantd.wire.runs import NamedToolChoice, RunCreate, ThreadAndRunCreate
from assistantd.wire.tools import Tool, response_format_to_row, tool_to_row


def run_row(
    caller: Caller,
    run_id: str,
    thread_id: str,
    assistant: Any,
    body: RunCreate | ThreadAndRunCreate,
    now: int,
    include: Sequence[str],
    expires_seconds: int,
) -> dict[str, Any]:
    """The run with its effective settings: the request's overrides over the assistant's."""
    tools: list[Tool] | None = body.tools
    if tools is not None:
        check_tools(tools)
    effective_tools = [tool_to_row(t) for t in tools] if tools is not None else assistant["tools"]
    tool_choice = _tool_choice(body.tool_choice, effective_tools)
    # null means "not given", like every other override (a widely used framework sends
    # `instructions: null` on every run); only a string, even "", replaces them.
    instructions = (
        body.instructions if body.instructions is not None else assistant["instructions"]
    ) or ""
    additional = getattr(body, "additional_instructions", None)
    if additional:
        instructions = f"{instructions}\n\n{additional}" if instructions else additional
    truncation = (
        body.truncation_strategy.model_dump()
        if body.truncation_strategy is not None
        else {"type": "auto", "last_messages": None}
    )
    return {
        "id": run_id,
        "project_id": caller.project_id,
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "created_at": now,
        "status": RunStatus.QUEUED.value,
        "model": body.model or assistant["model"],
        "instructions": instructions,
        "tools": effective_tools,
        "tool_resources": None,
        "metadata": body.metadata or {},
        "temperature": body.temperature
        if body.temperature is not None
        else assistant["temperature"],
        "top_p": body.top_p if body.top_p is not None else assistant["top_p"],
        "reasoning_effort": getattr(body, "reasoning_effort", None)
        or assistant["reasoning_effort"],
        "max_prompt_tokens": body.max_prompt_tokens,
        "max_completion_tokens": body.max_completion_tokens,
        "truncation_strategy": truncation,
        "tool_choice": tool_choice,
        "parallel_tool_calls": True
        if body.parallel_tool_calls is None
        else body.parallel_tool_calls,
        "response_format": response_format_to_row(body.response_format)
        if body.response_format is not None
        else assistant["response_format"] or "auto",
        "include": list(include),
        "required_action": None,
        "last_error": None,
        "incomplete_details": None,
        "usage": None,
        "expires_at": now + expires_seconds,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
    }


def check_include(include: Sequence[str]) -> None:
    for value in include:
        if value != FILE_SEARCH_CONTENT:
            raise InvalidRequestError(
                f"Invalid value: '{value}'. Supported values are: '{FILE_SEARCH_CONTENT}'.",
                param="include",
            )


def _tool_choice(choice: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        if choice == "required" and not tools:
            raise InvalidRequestError(
                "tool_choice 'required' needs at least one tool.", param="tool_choice"
            )
        return str(choice)
    assert isinstance(choice, NamedToolChoice)
    if choice.type == "function":
        if choice.function is None:
            raise InvalidRequestError(
                "Missing required parameter: 'tool_choice.function'.", param="tool_choice.function"
            )
        names = {t["function"]["name"] for t in tools if t["type"] == "function"}
        if choice.function.name not in names:
            raise InvalidRequestError(
                f"tool_choice names the function '{choice.function.name}', which is not among "
                "the run's tools.",
                param="tool_choice.function.name",
            )
        return {"type": "function", "function": {"name": choice.function.name}}
    if not any(t["type"] == choice.type for t in tools):
        raise InvalidRequestError(
            f"tool_choice asks for {choice.type}, which is not among the run's tools.",
            param="tool_choice",
        )
    return {"type": choice.type}
