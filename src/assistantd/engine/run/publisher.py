"""Publishing a run's domain events to the streams that follow it, after the state they
describe is committed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistantd.engine.bus import EventBus
from assistantd.engine.events import (
    ImagesShown,
    MessageChanged,
    RunChanged,
    StepChanged,
    TextAppended,
    ToolCallStreamed,
)
from assistantd.wire.deltas import ToolCallDelta


class RunPublisher:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def listening(self, run_id: str) -> bool:
        return self._bus.listening(run_id)

    # `everywhere`: also to streams in other processes, whoever executes the run (for changes
    # made outside the run's worker: a cancel or expiry of a run nobody executes).

    def run(self, row: Mapping[Any, Any], change: str, *, everywhere: bool = False) -> None:
        self._bus.publish(row["id"], RunChanged(row, change), everywhere=everywhere)

    def step(self, row: Mapping[Any, Any], change: str, *, everywhere: bool = False) -> None:
        self._bus.publish(row["run_id"], StepChanged(row, change), everywhere=everywhere)

    def message(self, row: Mapping[Any, Any], change: str, *, everywhere: bool = False) -> None:
        self._bus.publish(row["run_id"], MessageChanged(row, change), everywhere=everywhere)

    def opened_step(self, row: Mapping[Any, Any]) -> None:
        self.step(row, "created")
        self.step(row, "in_progress")

    def opened_message(self, row: Mapping[Any, Any]) -> None:
        self.message(row, "created")
        self.message(row, "in_progress")

    def images(self, run_id: str, message_id: str, file_ids: list[str]) -> None:
        if file_ids:
            self._bus.publish(run_id, ImagesShown(message_id, tuple(file_ids)))

    def text(
        self,
        run_id: str,
        message_id: str,
        part: int,
        value: str | None,
        annotations: list[dict[str, Any]] | None,
        first_annotation: int,
    ) -> None:
        if self._bus.listening(run_id):
            cited = None if annotations is None else tuple(annotations)
            self._bus.publish(
                run_id, TextAppended(message_id, part, value, cited, first_annotation)
            )

    def tool_call(self, run_id: str, step_id: str, delta: ToolCallDelta) -> None:
        self._bus.publish(run_id, ToolCallStreamed(step_id, delta))
