"""What a run's execution tells the streams that follow it: typed domain events.

Object events carry the committed row (a stream shows what a later GET returns); fragments
carry just the new text or tool-call delta. `service.stream_events` turns them into the
Assistants SSE vocabulary, so a run nobody streams never builds a wire object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistantd.wire.deltas import ToolCallDelta

Row = Mapping[Any, Any]


@dataclass(frozen=True, slots=True)
class ThreadCreated:
    row: Row


@dataclass(frozen=True, slots=True)
class RunChanged:
    """`change`: "created", or the status the run is now in."""

    row: Row
    change: str


@dataclass(frozen=True, slots=True)
class StepChanged:
    """`change`: "created", or the status the step is now in."""

    row: Row
    change: str


@dataclass(frozen=True, slots=True)
class MessageChanged:
    """`change`: "created", or the status the message is now in."""

    row: Row
    change: str


@dataclass(frozen=True, slots=True)
class ImagesShown:
    """An answer opens with images the run's code produced (content parts 0..n-1)."""

    message_id: str
    file_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TextAppended:
    """A fragment of the answer's text part (`part`: its content index) and the annotations
    it completed, numbered from `first_annotation`; `value` None: annotations only."""

    message_id: str
    part: int
    value: str | None
    annotations: tuple[dict[str, Any], ...] | None
    first_annotation: int


@dataclass(frozen=True, slots=True)
class ToolCallStreamed:
    step_id: str
    delta: ToolCallDelta


RunEvent = (
    ThreadCreated
    | RunChanged
    | StepChanged
    | MessageChanged
    | ImagesShown
    | TextAppended
    | ToolCallStreamed
)
