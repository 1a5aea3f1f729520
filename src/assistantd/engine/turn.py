"""What one model turn produces (text, tool calls) and the rows and checks built from it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistantd.engine.citations import CitationScanner
from assistantd.engine.code_arguments import CodeFromArguments


@dataclass
class Call:
    index: int
    id: str
    name: str = ""
    arguments: str = ""
    announced: bool = False
    code: CodeFromArguments = field(default_factory=CodeFromArguments)  # code_interpreter only


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
    search_calls_before: int = 0  # file_search calls in earlier turns (numbers the markers)
    images: list[str] = field(default_factory=list)  # image files to show before the text


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


def call_problem(call: Call, known: set[str]) -> str | None:
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
    return [
        {"type": "image_file", "image_file": {"file_id": file_id, "detail": "auto"}}
        for file_id in file_ids
    ]
