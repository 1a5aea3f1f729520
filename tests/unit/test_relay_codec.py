"""What crosses between processes: run events as text and back, and notification payloads cut
into pieces and joined, in any interleaving of senders."""

from __future__ import annotations

import pytest

from assistantd.engine import event_codec
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
from assistantd.service.stream_events import sse_event
from assistantd.store.notifications import PIECE_CHARS, Joiner, pieces
from assistantd.wire.deltas import (
    CodeInterpreterDelta,
    CodeInterpreterToolCallDelta,
    FunctionDelta,
    FunctionToolCallDelta,
)
from tests.support.run_rows import run_row, thread_row

EVENTS: list[RunEvent] = [
    ThreadCreated(thread_row("thread_1")),
    RunChanged(run_row("run_1", "thread_1", instructions="é" * 5000), "in_progress"),
    TextAppended("msg_1", 0, "Hello 🌍", None, 0),
    TextAppended("msg_1", 1, None, ({"type": "file_citation", "text": "【0:0†a】"},), 2),
    ToolCallStreamed(
        "step_1", FunctionToolCallDelta(index=0, function=FunctionDelta(arguments='{"q"'))
    ),
    ToolCallStreamed(
        "step_1",
        CodeInterpreterToolCallDelta(
            index=1, id="call_1", code_interpreter=CodeInterpreterDelta(input="print(1)")
        ),
    ),
    ImagesShown("msg_1", ("file_1", "file_2")),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_read_back_streams_the_very_same_bytes(event: RunEvent) -> None:
    text = event_codec.encode("run_1", event)
    assert event_codec.run_id_of(text) == "run_1"
    run_id, back = event_codec.decode(text)
    assert run_id == "run_1"
    assert type(back) is type(event)
    assert sse_event(back) == sse_event(event)


def test_object_events_keep_their_change() -> None:
    for cls in (RunChanged, StepChanged, MessageChanged):
        event = cls({"id": "x", "run_id": "run_1"}, "completed")
        _, back = event_codec.decode(event_codec.encode("run_1", event))
        assert isinstance(back, cls)
        assert back.change == "completed"
        assert dict(back.row) == {"id": "x", "run_id": "run_1"}


def test_text_that_is_not_an_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not a relayed run event"):
        event_codec.decode('{"k": "text"}')


def test_a_long_payload_goes_in_pieces_under_the_notify_limit_and_joins_back() -> None:
    payload = "ü" * (3 * PIECE_CHARS + 5)
    parts = pieces("s1", 7, payload)
    assert len(parts) == 4
    assert all(len(part.encode()) < 8000 for part in parts)
    other = pieces("s2", 1, "short")
    joiner = Joiner()
    # Another sender's payload in between changes nothing.
    got = [joiner.add(parts[0]), joiner.add(other[0]), *[joiner.add(p) for p in parts[1:]]]
    assert got == [None, ("s2", "short"), None, None, ("s1", payload)]


def test_a_payload_missing_a_piece_is_dropped_not_garbled() -> None:
    parts = pieces("s1", 1, "x" * (2 * PIECE_CHARS + 1))
    joiner = Joiner()
    assert [joiner.add(parts[0]), joiner.add(parts[2])] == [None, None]
    assert joiner.add(pieces("s1", 2, "next")[0]) == ("s1", "next")


def test_a_payload_sent_from_sql_is_whole_as_it_is() -> None:
    assert Joiner().add("run") == ("", "run")
