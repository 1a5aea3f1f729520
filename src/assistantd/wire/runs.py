"""Run and run-step request bodies and objects (`thread.run`, `thread.run.step`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from assistantd.wire.threads import ThreadCreate
from assistantd.wire.tools import ResponseFormat, Tool, ToolResources

RUN_MAX_TOOLS = 20
TokenBudget = Annotated[int, Field(ge=256)] | None

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
ACTIVE_RUN_STATUSES: frozenset[str] = frozenset(
    {"queued", "in_progress", "requires_action", "cancelling"}
)
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset(
    {"cancelled", "failed", "completed", "incomplete", "expired"}
)


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


class Run(ResponseModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    required_action: dict[str, Any] | None
    last_error: dict[str, Any] | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: dict[str, Any] | None
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    usage: dict[str, int] | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    response_format: str | dict[str, Any]


class RunStep(ResponseModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: dict[str, Any]
    last_error: dict[str, Any] | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str]
    usage: dict[str, int] | None


def run_from_row(row: Mapping[Any, Any]) -> Run:
    """Usage is shown only once the run is terminal; `expires_at` only while it is not."""
    terminal = row["status"] in TERMINAL_RUN_STATUSES
    return Run(
        id=row["id"],
        created_at=row["created_at"],
        thread_id=row["thread_id"],
        assistant_id=row["assistant_id"],
        status=row["status"],
        required_action=row["required_action"],
        last_error=row["last_error"],
        expires_at=None if terminal else row["expires_at"],
        started_at=row["started_at"],
        cancelled_at=row["cancelled_at"],
        failed_at=row["failed_at"],
        completed_at=row["completed_at"],
        incomplete_details=row["incomplete_details"],
        model=row["model"],
        instructions=row["instructions"],
        tools=row["tools"],
        metadata=row["metadata"],
        usage=_usage(row["usage"]) if terminal else None,
        temperature=row["temperature"],
        top_p=row["top_p"],
        max_prompt_tokens=row["max_prompt_tokens"],
        max_completion_tokens=row["max_completion_tokens"],
        truncation_strategy=row["truncation_strategy"],
        tool_choice=row["tool_choice"],
        parallel_tool_calls=row["parallel_tool_calls"],
        response_format=row["response_format"],
    )


FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def _public_details(details: Mapping[str, Any], include_content: bool) -> dict[str, Any]:
    """Stored tool calls keep what the model was told under `_`-keys, and search results keep
    their text; the wire shows neither (the text only when `include[]` asks for it)."""
    if details.get("type") != "tool_calls":
        return dict(details)
    items = []
    for item in details["tool_calls"]:
        shown = {key: value for key, value in item.items() if not key.startswith("_")}
        if shown.get("type") == "file_search" and not include_content:
            search = dict(shown["file_search"])
            search["results"] = [
                {key: value for key, value in result.items() if key != "content"}
                for result in search.get("results", [])
            ]
            shown["file_search"] = search
        items.append(shown)
    return {"type": "tool_calls", "tool_calls": items}


def step_from_row(row: Mapping[Any, Any], include: Sequence[str] = ()) -> RunStep:
    """Usage is shown once the step has left `in_progress`."""
    return RunStep(
        id=row["id"],
        created_at=row["created_at"],
        assistant_id=row["assistant_id"],
        thread_id=row["thread_id"],
        run_id=row["run_id"],
        type=row["type"],
        status=row["status"],
        step_details=_public_details(row["step_details"], FILE_SEARCH_CONTENT in include),
        last_error=row["last_error"],
        expired_at=row["expired_at"],
        cancelled_at=row["cancelled_at"],
        failed_at=row["failed_at"],
        completed_at=row["completed_at"],
        metadata=row["metadata"],
        usage=None if row["status"] == "in_progress" else _usage(row["usage"]),
    )


def _usage(value: Mapping[str, int] | None) -> dict[str, int] | None:
    if value is None:
        return None
    prompt = int(value.get("prompt_tokens", 0))
    completion = int(value.get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
