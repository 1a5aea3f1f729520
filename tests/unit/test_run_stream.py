"""A streamed request's view of a run, without a server: a reader too far behind is closed with
an error while other readers get everything, and a stream whose run ended without its event
reaching it (a notification lost between processes) ends at its next keep-alive pause."""

from __future__ import annotations

import asyncio

from assistantd.engine.bus import STREAM_BUFFER, EventBus
from assistantd.engine.events import RunChanged, RunEvent, TextAppended
from assistantd.service.run_stream import RunStream
from assistantd.service.stream_events import SseEvent
from tests.support.run_rows import run_row


async def _never() -> RunEvent | None:
    return None


async def _collect(stream: RunStream) -> list[SseEvent | None]:
    out: list[SseEvent | None] = []
    async for batch in stream.batches():
        out.extend(batch if batch is not None else [None])
    return out


def test_a_reader_too_far_behind_is_closed_and_the_others_get_everything() -> None:
    bus = EventBus()
    slow, fast = bus.subscribe("run_1"), bus.subscribe("run_1")
    done = run_row("run_1", "thread_1", status="completed")

    async def scenario() -> tuple[list[SseEvent | None], int]:
        fast_events = 0
        for i in range(STREAM_BUFFER + 5):
            bus.publish("run_1", TextAppended("msg_1", 0, f"{i}", None, 0))
            fast_events += len(fast.ready())
        bus.publish("run_1", RunChanged(done, "completed"))
        fast_events += len(fast.ready())
        return await _collect(RunStream([], slow, 60.0, _never)), fast_events

    events, fast_events = asyncio.run(scenario())
    assert fast_events == STREAM_BUFFER + 6
    assert len(events) == STREAM_BUFFER + 2  # what it kept, then the error and done
    names = [event[0] for event in events if event is not None]
    assert names[-2:] == ["error", "done"]
    error = events[-2]
    assert error is not None
    assert error[1]["error"]["code"] == "stream_overflow"
    assert "run_1 goes on" in error[1]["error"]["message"]


def test_a_run_that_ended_unheard_ends_the_stream_at_the_next_pause() -> None:
    bus = EventBus()
    subscription = bus.subscribe("run_2")
    failed = run_row("run_2", "thread_2", status="failed")
    failed["last_error"] = {"code": "server_error", "message": "boom"}
    checks = []

    async def ended() -> RunEvent | None:
        checks.append(1)
        return RunChanged(failed, "failed") if len(checks) >= 2 else None

    events = asyncio.run(_collect(RunStream([], subscription, 0.01, ended)))
    assert len(checks) == 2
    assert events[0] is None  # the first pause: still going, a keep-alive
    names = [event[0] for event in events[1:] if event is not None]
    assert names == ["thread.run.failed", "error", "done"]
