"""The Assistants stream vocabulary: each domain event of a run becomes one SSE event
(`thread.run.in_progress`, `thread.message.delta`, ...) with its JSON data, here and only here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistantd.engine.events import (
    ImagesShown,
    MessageChanged,
    RunChanged,
    RunEvent,
    StepChanged,
    TextAppended,
    ThreadCreated,
    ToolCallStreamed,
)
from assistantd.wire.deltas import (
    ImageFileDelta,
    ImageFileDeltaPart,
    MessageDelta,
    MessageDeltaBody,
    RunStepDelta,
    RunStepDeltaBody,
    TextDelta,
    TextDeltaPart,
    ToolCallsDelta,
)
from assistantd.wire.messages import message_from_row
from assistantd.wire.run_status import STREAM_ENDS, RunStatus
from assistantd.wire.run_steps import step_from_row
from assistantd.wire.runs import run_from_row
from assistantd.wire.threads import thread_from_row

SseEvent = tuple[str, Any]
"""(event name, data): data is a JSON-ready value, or the literal "[DONE]"."""


ObjectEvent = RunChanged | StepChanged | MessageChanged
# An object event's SSE name is its object's prefix and the change: `thread.run.step.created`.
_PREFIXES: dict[type, str] = {
    RunChanged: "thread.run",
    StepChanged: "thread.run.step",
    MessageChanged: "thread.message",
}


def sse_events(events: Sequence[RunEvent]) -> list[SseEvent]:
    """The SSE events of a batch of domain events. An object announced twice in a row (a run
    `created` then `queued`, a step `created` then `in_progress`) is converted once."""
    converted: list[SseEvent] = []
    previous: RunEvent | None = None
    for event in events:
        if (
            isinstance(event, ObjectEvent)
            and type(previous) is type(event)
            and isinstance(previous, ObjectEvent)
            and previous.row is event.row
        ):
            name = f"{_PREFIXES[type(event)]}.{event.change}"
            converted.append((name, converted[-1][1]))
        else:
            converted.append(sse_event(event))
        previous = event
    return converted


def sse_event(event: RunEvent) -> SseEvent:
    if isinstance(event, TextAppended):  # the most frequent by far
        return "thread.message.delta", _text_delta(event)
    if isinstance(event, ToolCallStreamed):
        step_delta = RunStepDelta(
            id=event.step_id,
            delta=RunStepDeltaBody(step_details=ToolCallsDelta(tool_calls=[event.delta])),
        )
        return "thread.run.step.delta", step_delta.model_dump(mode="json")
    if isinstance(event, ObjectEvent):
        return f"{_PREFIXES[type(event)]}.{event.change}", _object_data(event)
    if isinstance(event, ImagesShown):
        parts: list[Any] = [
            ImageFileDeltaPart(index=i, image_file=ImageFileDelta(file_id=file_id, detail="auto"))
            for i, file_id in enumerate(event.file_ids)
        ]
        images = MessageDelta(
            id=event.message_id, delta=MessageDeltaBody(role="assistant", content=parts)
        )
        return "thread.message.delta", images.model_dump(mode="json")
    if isinstance(event, ThreadCreated):
        return "thread.created", thread_from_row(event.row).model_dump(mode="json")
    raise TypeError(f"not a run event: {event!r}")


def ends_stream(event: RunEvent) -> bool:
    """The run stopped or needs the client: the stream ends after this event."""
    return isinstance(event, RunChanged) and event.change in STREAM_ENDS


def closing_events(event: RunEvent) -> list[SseEvent]:
    """What follows the event that ends a stream: `error` for a failed run, then `done`."""
    if isinstance(event, RunChanged) and event.change == RunStatus.FAILED:
        error = event.row["last_error"] or {}
        failed = {
            "error": {
                "message": error.get("message", "The run failed."),
                "type": "server_error",
                "param": None,
                "code": error.get("code"),
            }
        }
        return [("error", failed), ("done", "[DONE]")]
    return [("done", "[DONE]")]


def fell_behind(run_id: str) -> list[SseEvent]:
    """How a stream whose reader fell too far behind ends (the run itself goes on)."""
    error = {
        "error": {
            "message": f"This stream fell too far behind and was closed; run {run_id} goes on: "
            "retrieve it, or list its steps and messages.",
            "type": "server_error",
            "param": None,
            "code": "stream_overflow",
        }
    }
    return [("error", error), ("done", "[DONE]")]


def _object_data(event: ObjectEvent) -> dict[str, Any]:
    if isinstance(event, RunChanged):
        return run_from_row(event.row).model_dump(mode="json")
    if isinstance(event, StepChanged):
        return step_from_row(event.row).model_dump(mode="json")
    return message_from_row(event.row).model_dump(mode="json")


def _text_delta(event: TextAppended) -> dict[str, Any]:
    given: dict[str, Any] = {}
    if event.value is not None:
        given["value"] = event.value
    if event.annotations is not None:
        given["annotations"] = [
            {"index": event.first_annotation + offset, **item}
            for offset, item in enumerate(event.annotations)
        ]
    part = TextDeltaPart(index=event.part, text=TextDelta(**given))
    delta = MessageDelta(id=event.message_id, delta=MessageDeltaBody(content=[part]))
    return delta.model_dump(mode="json")
