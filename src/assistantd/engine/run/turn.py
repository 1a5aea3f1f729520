"""What one model turn produces (text, tool calls) and the rows and checks built from it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistantd.engine.citations import CitationScanner
from assistantd.engine.tools import CallStream, ServerTool
from assistantd.wire.messages import image_file_part


@dataclass
class Call:
    index: int
    id: str
    name: str = ""
    arguments: str = ""
    tool: ServerTool | None = None  # a call the engine runs itself
    stream: CallStream | None = None  # set once the call is announced


@dataclass
class Turn:
    """What one model turn has produced so far."""

    text: str = ""
    message_id: str | None = None
    message_step_id: str | None = None
    tool_step_id: str | None = None
    calls: dict[int, Call] = field(default_factory=dict)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    citations: CitationScanner = field(default_factory=lambda: CitationScanner({}))
    calls_before: dict[str, int] = field(default_factory=dict)  # server-tool calls, by name
    images: list[str] = field(default_factory=list)  # image files to show before the text

    def partial(self) -> dict[str, str]:
        """The text streamed so far, by the message it goes into (for an ending mid-turn)."""
        return {self.message_id: self.text} if self.message_id else {}


def step_row(
    run: Mapping[Any, Any], step_id: str, now: int, kind: str, details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": step_id,
        "project_id": run["project_id"],
        "run_id": run["id"],
        "thread_id": run["thread_id"],
        "assistant_id": run["assistant_id"],
        "created_at": now,
        "type": kind,
        "status": "in_progress",
        "step_details": details,
        "last_error": None,
        "metadata": {},
        "usage": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
    }


def message_of(step: Mapping[Any, Any]) -> str | None:
    details = step["step_details"]
    if details.get("type") == "message_creation":
        message_id: str = details["message_creation"]["message_id"]
        return message_id
    return None


def awaits_outputs(step: Mapping[Any, Any]) -> bool:
    """A tool step whose function calls wait for the client's outputs."""
    calls = [c for c in step["step_details"].get("tool_calls") or [] if c["type"] == "function"]
    return bool(calls) and all(c["function"].get("output") is None for c in calls)


def unshown_images(
    steps: Sequence[Mapping[Any, Any]], own_messages: Iterable[Mapping[Any, Any]]
) -> list[str]:
    """Images this run's code produced that none of its messages shows yet: the next message
    opens with them, as the hosted API's did."""
    shown = {
        part["image_file"]["file_id"]
        for message in own_messages
        for part in message["content"]
        if part.get("type") == "image_file"
    }
    made = [
        file_id
        for step in steps
        if step["step_details"].get("type") == "tool_calls"
        for item in step["step_details"]["tool_calls"]
        for file_id in item.get("_images") or []
    ]
    return [file_id for file_id in made if file_id not in shown]


def image_parts(file_ids: list[str]) -> list[dict[str, Any]]:
    return [image_file_part(file_id) for file_id in file_ids]
