"""Thread request bodies and the `thread` object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

from assistantd.wire.base import Metadata, RequestModel, ResponseModel
from assistantd.wire.messages import MessageCreate
from assistantd.wire.tools import ToolResources, ToolResourcesCreate

THREAD_MAX_INITIAL_MESSAGES = 32


class ThreadCreate(RequestModel):
    messages: Annotated[list[MessageCreate], Field(max_length=THREAD_MAX_INITIAL_MESSAGES)] = []
    tool_resources: ToolResourcesCreate | None = None
    metadata: Metadata = None


class ThreadUpdate(RequestModel):
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


class Thread(ResponseModel):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: dict[str, Any] | None
    metadata: dict[str, str]


def thread_from_row(row: Mapping[Any, Any]) -> Thread:
    return Thread(
        id=row["id"],
        created_at=row["created_at"],
        tool_resources=row["tool_resources"],
        metadata=row["metadata"],
    )
