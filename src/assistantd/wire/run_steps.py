"""The `thread.run.step` object, its step details and tool calls, and the one place where a
stored step (engine-private `_`-keys, search result text) becomes its wire view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from assistantd.wire.base import ResponseModel

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


class Usage(ResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def usage_from_row(value: Mapping[str, int] | None) -> Usage | None:
    """Stored usage keeps the two counts; the total is derived."""
    if value is None:
        return None
    prompt = int(value.get("prompt_tokens", 0))
    completion = int(value.get("completion_tokens", 0))
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


class LastError(ResponseModel):
    code: str
    message: str


# --- step details -------------------------------------------------------------------------


class MessageCreation(ResponseModel):
    message_id: str


class MessageCreationDetails(ResponseModel):
    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation


class FunctionCall(ResponseModel):
    name: str
    arguments: str
    output: str | None  # null until the client submits it


class FunctionToolCall(ResponseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class FileSearchRankingOptions(ResponseModel):
    ranker: str
    score_threshold: float


class FileSearchResultContent(ResponseModel):
    type: Literal["text"] = "text"
    text: str


class FileSearchResult(ResponseModel):
    file_id: str
    file_name: str
    score: float
    # Shown only when `include[]` asks for it: otherwise the key is absent, not null.
    # (`exclude_if` rather than a wrap serializer: the serializer made a GET of a file_search
    # step 2-3x slower; `exclude_if` is checked inside pydantic-core.)
    content: Annotated[
        list[FileSearchResultContent] | None, Field(exclude_if=lambda value: value is None)
    ] = None


class FileSearch(ResponseModel):
    ranking_options: FileSearchRankingOptions
    results: list[FileSearchResult]


class FileSearchToolCall(ResponseModel):
    id: str
    type: Literal["file_search"] = "file_search"
    file_search: FileSearch


class CodeInterpreterLogs(ResponseModel):
    type: Literal["logs"] = "logs"
    logs: str


class ImageRef(ResponseModel):
    file_id: str


class CodeInterpreterImage(ResponseModel):
    type: Literal["image"] = "image"
    image: ImageRef


CodeInterpreterOutput = Annotated[
    CodeInterpreterLogs | CodeInterpreterImage, Field(discriminator="type")
]


class CodeInterpreter(ResponseModel):
    input: str
    outputs: list[CodeInterpreterOutput]


class CodeInterpreterToolCall(ResponseModel):
    id: str
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreter


ToolCall = Annotated[
    FunctionToolCall | FileSearchToolCall | CodeInterpreterToolCall, Field(discriminator="type")
]


class ToolCallsDetails(ResponseModel):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall]


StepDetails = Annotated[MessageCreationDetails | ToolCallsDetails, Field(discriminator="type")]


class RunStep(ResponseModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: StepDetails
    last_error: LastError | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str]
    usage: Usage | None


# --- stored form ----------------------------------------------------------------------------
# A stored tool call is its wire JSON plus engine-private keys starting with "_" (`_model`: what
# the model was told; `_files`, `_images`: what code_interpreter saved). The wire never shows
# them; these functions are the only crossing between the two forms.

_TOOL_CALL: TypeAdapter[ToolCall] = TypeAdapter(ToolCall)
_STEP_DETAILS: TypeAdapter[StepDetails] = TypeAdapter(StepDetails)


def stored_tool_call(call: ToolCall, **private: Any) -> dict[str, Any]:
    """The tool call as step_details keeps it: `stored_tool_call(c, model={...})` adds
    `"_model": {...}` after the wire keys."""
    stored = call.model_dump(mode="json")
    for key, value in private.items():
        stored["_" + key] = value
    return stored


def stored_tool_calls(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A `tool_calls` step's details as stored, its items made by `stored_tool_call`."""
    return {"type": "tool_calls", "tool_calls": items}


def tool_call_from_stored(item: Mapping[str, Any], *, with_content: bool = True) -> ToolCall:
    """The wire tool call of a stored item (`_`-keys left out); without `with_content`, search
    results lose their text (the wire shows it only when `include[]` asks)."""
    return _TOOL_CALL.validate_python(_shown(item, with_content))


def details_from_stored(details: Mapping[str, Any], *, with_content: bool = True) -> StepDetails:
    """The wire step details of stored ones (each tool call as `tool_call_from_stored`)."""
    return _STEP_DETAILS.validate_python(_shown_details(details, with_content))


def _shown_details(details: Mapping[str, Any], with_content: bool) -> Mapping[str, Any]:
    if details.get("type") != "tool_calls":
        return details
    return {
        "type": "tool_calls",
        "tool_calls": [_shown(item, with_content) for item in details["tool_calls"]],
    }


def _shown(item: Mapping[str, Any], with_content: bool) -> dict[str, Any]:
    shown = {key: value for key, value in item.items() if not key.startswith("_")}
    if not with_content and shown.get("type") == "file_search":
        search = dict(shown["file_search"])
        search["results"] = [
            {key: value for key, value in result.items() if key != "content"}
            for result in search.get("results", [])
        ]
        shown["file_search"] = search
    return shown


def step_from_row(row: Mapping[Any, Any], include: Sequence[str] = ()) -> RunStep:
    """Usage is shown once the step has left `in_progress`."""
    # Validated from plain data: the stored details are dicts, and pydantic-core builds the
    # nested models from them in one pass.
    return RunStep.model_validate(
        {
            "id": row["id"],
            "created_at": row["created_at"],
            "assistant_id": row["assistant_id"],
            "thread_id": row["thread_id"],
            "run_id": row["run_id"],
            "type": row["type"],
            "status": row["status"],
            "step_details": _shown_details(row["step_details"], FILE_SEARCH_CONTENT in include),
            "last_error": row["last_error"],
            "expired_at": row["expired_at"],
            "cancelled_at": row["cancelled_at"],
            "failed_at": row["failed_at"],
            "completed_at": row["completed_at"],
            "metadata": row["metadata"],
            "usage": None if row["status"] == "in_progress" else usage_from_row(row["usage"]),
        }
    )
