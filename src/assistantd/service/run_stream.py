"""A streamed request's view of a run: the events so far, then live ones, then `done`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from assistantd.engine.bus import Subscription
from assistantd.engine.events import RunEvent
from assistantd.service.stream_events import SseEvent, closing_events, ends_stream, sse_event


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
                yield [sse_event(event) for event in self._initial]
            while True:
                live = await self._subscription.next(self._keepalive)
                if live is None:
                    yield None
                    continue
                batch: list[SseEvent] = []
                for event in (live, *self._subscription.ready()):
                    batch.append(sse_event(event))
                    if ends_stream(event):
                        batch.extend(closing_events(event))
                        yield batch
                        return
                yield batch
        finally:
            self._subscription.close()
