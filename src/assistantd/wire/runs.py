"""Run request bodies and the `thread.run` object (run steps: `wire.run_steps`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from assistantd.wire.assistants import Instructions, ModelName
from assistantd.wire.base import (
    Metadata,
    ReasoningEffort,
    RequestModel,
    ResponseModel,
    Temperature,
    TopP,
)
from assistantd.wire.messages import MessageCreate
from assistantd.wire.run_actions import RequiredAction
from assistantd.wire.run_status import TERMINAL, RunStatus
from assistantd.wire.run_steps import LastError, Usage, usage_from_row
from assistantd.wire.threads import ThreadCreate
from assistantd.wire.tools import ResponseFormat, Tool, ToolResources

RUN_MAX_TOOLS = 20
TokenBudget = Annotated[int, Field(ge=256)] | None


class TruncationStrategy(RequestModel):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class NamedFunction(RequestModel):
    name: str


class NamedToolChoice(RequestModel):
    type: Literal["function", "file_search", "code_interpreter"]
    function: NamedFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice | None


class _RunOptions(RequestModel):
    """Fields shared by `POST /threads/{id}/runs` and `POST /threads/runs`."""

    assistant_id: Annotated[str, Field(min_length=1, max_length=128)]
    model: ModelName | None = None
    instructions: Instructions = None
    tools: Annotated[list[Tool], Field(max_length=RUN_MAX_TOOLS)] | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    stream: bool | None = None
    max_prompt_tokens: TokenBudget = None
    max_completion_tokens: TokenBudget = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat = None


class RunCreate(_RunOptions):
    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: Annotated[str, Field(max_length=256_000)] | None = None
    additional_messages: Annotated[list[MessageCreate], Field(max_length=32)] | None = None


class ThreadAndRunCreate(_RunOptions):
    thread: ThreadCreate | None = None
    tool_resources: ToolResources | None = None


class RunUpdate(RequestModel):
    metadata: Metadata = None


class ToolOutput(RequestModel):
    tool_call_id: Annotated[str, Field(min_length=1, max_length=128)]
    output: Annotated[str, Field(max_length=512_000)] = ""


class SubmitToolOutputs(RequestModel):
    tool_outputs: Annotated[list[ToolOutput], Field(min_length=1, max_length=128)]
    stream: bool | None = None


class IncompleteDetails(ResponseModel):
    reason: str


class Run(ResponseModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: RequiredAction | None
    last_error: LastError | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: IncompleteDetails | None
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    usage: Usage | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: str | dict[str, Any]


def run_from_row(row: Mapping[Any, Any]) -> Run:
    """Usage is shown only once the run is terminal; `expires_at` only while it is not."""
    terminal = row["status"] in TERMINAL
    return Run.model_validate(
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "thread_id": row["thread_id"],
            "assistant_id": row["assistant_id"],
            "status": row["status"],
            "required_action": row["required_action"],
            "last_error": row["last_error"],
            "expires_at": None if terminal else row["expires_at"],
            "started_at": row["started_at"],
            "cancelled_at": row["cancelled_at"],
            "failed_at": row["failed_at"],
            "completed_at": row["completed_at"],
            "incomplete_details": row["incomplete_details"],
            "model": row["model"],
            "instructions": row["instructions"],
            "tools": row["tools"],
            "metadata": row["metadata"],
            "usage": usage_from_row(row["usage"]) if terminal else None,
            "temperature": row["temperature"],
            "top_p": row["top_p"],
            "max_prompt_tokens": row["max_prompt_tokens"],
            "max_completion_tokens": row["max_completion_tokens"],
            "truncation_strategy": row["truncation_strategy"],
            "tool_choice": row["tool_choice"],
            "parallel_tool_calls": row["parallel_tool_calls"],
            "response_format": row["response_format"],
        }
    )
