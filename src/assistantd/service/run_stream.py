"""A streamed request's view of a run: the events so far, then live ones, then `done`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from assistantd.engine.bus import Subscription
from assistantd.engine.events import RunEvent
from assistantd.service.stream_events import SseEvent, closing_events, ends_stream, sse_events


class RunStream:
    """Events for one streamed request: what happened before following began, then live ones.

    Yields batches of `(event, data)` pairs (the events that were ready together, so they can
    leave in one write), `None` for a keep-alive pause, and ends after the run stops or needs
    the client, with `done`. A failed run adds an `error` event first.
    """

    def __init__(
        self, initial: list[RunEvent], subscription: Subscription, keepalive_seconds: float
    ) -> None:
        self._initial = initial
        self._subscription = subscription
        self._keepalive = keepalive_seconds

    async def batches(self) -> AsyncIterator[list[SseEvent] | None]:
        try:
            if self._initial:
                yield sse_events(self._initial)
            while True:
                live = await self._subscription.next(self._keepalive)
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
