"""Assistant request bodies and the `assistant` object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from assistantd.wire.base import (
    Metadata,
    ReasoningEffort,
    RequestModel,
    ResponseModel,
    Temperature,
    TopP,
)
from assistantd.wire.tools import ResponseFormat, Tool, ToolResources, ToolResourcesCreate

Name = Annotated[str, Field(max_length=256)] | None
Description = Annotated[str, Field(max_length=512)] | None
Instructions = Annotated[str, Field(max_length=256_000)] | None
ModelName = Annotated[str, Field(min_length=1, max_length=256)]


class AssistantCreate(RequestModel):
    model: ModelName
    name: Name = None
    description: Description = None
    instructions: Instructions = None
    reasoning_effort: ReasoningEffort | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] = []
    tool_resources: ToolResourcesCreate | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    response_format: ResponseFormat = None


class AssistantUpdate(RequestModel):
    """Every field optional; a field that is absent keeps its value (see `model_fields_set`)."""

    model: ModelName | None = None
    name: Name = None
    description: Description = None
    instructions: Instructions = None
    reasoning_effort: ReasoningEffort | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
    temperature: Temperature = None
    top_p: TopP = None
    response_format: ResponseFormat = None


class Assistant(ResponseModel):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[dict[str, Any]]
    tool_resources: dict[str, Any] | None
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    response_format: str | dict[str, Any] | None


def assistant_from_row(row: Mapping[Any, Any]) -> Assistant:
    return Assistant(
        id=row["id"],
        created_at=row["created_at"],
        name=row["name"],
        description=row["description"],
        model=row["model"],
        instructions=row["instructions"],
        tools=row["tools"],
        tool_resources=row["tool_resources"],
        metadata=row["metadata"],
        temperature=row["temperature"],
        top_p=row["top_p"],
        response_format=row["response_format"],
    )
