"""Run events as text, for the relay between processes: one JSON object per event, read back
into the same typed event (rows as plain dicts; a tool-call delta with the same keys set)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter

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
from assistantd.wire.deltas import ToolCallDelta

_DELTA: TypeAdapter[Any] = TypeAdapter(ToolCallDelta)
_CHANGES: dict[str, type[RunChanged | StepChanged | MessageChanged]] = {
    "run": RunChanged,
    "step": StepChanged,
    "message": MessageChanged,
}


def encode(run_id: str, event: RunEvent) -> str:
    body: dict[str, Any]
    if isinstance(event, TextAppended):
        body = {
            "k": "text",
            "m": event.message_id,
            "p": event.part,
            "v": event.value,
            "a": event.annotations,
            "f": event.first_annotation,
        }
    elif isinstance(event, RunChanged | StepChanged | MessageChanged):
        kind = next(k for k, cls in _CHANGES.items() if isinstance(event, cls))
        body = {"k": kind, "row": dict(event.row), "c": event.change}
    elif isinstance(event, ToolCallStreamed):
        body = {"k": "call", "s": event.step_id, "d": event.delta.model_dump(mode="json")}
    elif isinstance(event, ImagesShown):
        body = {"k": "images", "m": event.message_id, "f": list(event.file_ids)}
    else:
        body = {"k": "thread", "row": dict(event.row)}
    body["r"] = run_id
    # Row keys are SQLAlchemy names (a str subclass orjson takes only as "non-str" keys).
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()


_RUN_KEY = ',"r":"'


def run_id_of(text: str) -> str:
    """The run id of `encode`'s text without decoding it all (it is the last key)."""
    start = text.rfind(_RUN_KEY)
    return text[start + len(_RUN_KEY) : -2] if start >= 0 else ""


def decode(text: str) -> tuple[str, RunEvent]:
    """The run id and event of `encode`'s text; ValueError if it is not one."""
    try:
        body = orjson.loads(text)
        kind = body["k"]
        event: RunEvent
        if kind == "text":
            cited = body["a"]
            event = TextAppended(
                body["m"], body["p"], body["v"], None if cited is None else tuple(cited), body["f"]
            )
        elif kind in _CHANGES:
            event = _CHANGES[kind](body["row"], body["c"])
        elif kind == "call":
            event = ToolCallStreamed(body["s"], _DELTA.validate_python(body["d"]))
        elif kind == "images":
            event = ImagesShown(body["m"], tuple(body["f"]))
        elif kind == "thread":
            event = ThreadCreated(body["row"])
        else:
            raise ValueError(f"unknown run event kind {kind!r}")
        return str(body["r"]), event
    except (KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"not a relayed run event: {exc}") from exc
