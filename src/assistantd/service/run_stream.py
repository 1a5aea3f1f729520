"""A streamed request's view of a run: the events so far, then live ones, then `done`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from assistantd.engine.bus import Subscription
from assistantd.engine.events import RunEvent
from assistantd.service.stream_events import (
    SseEvent,
    closing_events,
    ends_stream,
    fell_behind,
    sse_events,
)


class RunStream:
    """Events for one streamed request: what happened before following began, then live ones.

    Yields batches of `(event, data)` pairs (the events that were ready together, so they can
    leave in one write), `None` for a keep-alive pause, and ends after the run stops or needs
    the client, with `done`. A failed run adds an `error` event first; so does a reader that
    fell too far behind (`STREAM_BUFFER` events), which is then dropped: the run goes on.

    At each keep-alive pause, `ended` says whether the run has stopped meanwhile (its event
    for the stream, or None): an event lost between processes (a database restart drops
    notifications) must not leave a stream open forever.
    """

    def __init__(
        self,
        initial: list[RunEvent],
        subscription: Subscription,
        keepalive_seconds: float,
        ended: Callable[[], Awaitable[RunEvent | None]],
    ) -> None:
        self._initial = initial
        self._subscription = subscription
        self._keepalive = keepalive_seconds
        self._ended = ended

    async def batches(self) -> AsyncIterator[list[SseEvent] | None]:
        try:
            if self._initial:
                yield sse_events(self._initial)
            while True:
                if self._subscription.overflowed and not self._subscription.queue.qsize():
                    yield fell_behind(self._subscription.run_id)
                    return
                live = await self._subscription.next(self._keepalive)
                if live is None:
                    live = await self._ended()
                if live is None:
                    yield None
                    continue
                events = [live, *self._subscription.ready()]
                for i, event in enumerate(events):
                    if ends_stream(event):
                        yield [*sse_events(events[: i + 1]), *closing_events(event)]
                        return
                yield sse_events(events)
        finally:
            self._subscription.close()
