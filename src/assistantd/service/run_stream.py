"""A streamed request's view of a run: the events so far, then live ones, then `done`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from assistantd.engine.bus import Event, Subscription
from assistantd.wire.runs import TERMINAL_RUN_STATUSES

_STREAM_END = frozenset(
    {f"thread.run.{status}" for status in TERMINAL_RUN_STATUSES} | {"thread.run.requires_action"}
)


class RunStream:
    """Events for one streamed request: what happened before following began, then live ones.

    Yields `(event, data)` pairs, `None` for a keep-alive pause, and ends after the run stops
    or needs the client, with `done`. A failed run adds an `error` event first.
    """

    def __init__(
        self, initial: list[Event], subscription: Subscription, keepalive_seconds: float
    ) -> None:
        self._initial = initial
        self._subscription = subscription
        self._keepalive = keepalive_seconds

    async def events(self) -> AsyncIterator[Event | None]:
        try:
            for event in self._initial:
                yield event
            while True:
                live = await self._subscription.next(self._keepalive)
                if live is None:
                    yield None
                    continue
                yield live
                name, data = live
                if name in _STREAM_END:
                    if name == "thread.run.failed":
                        error = data.get("last_error") or {}
                        yield (
                            "error",
                            {
                                "error": {
                                    "message": error.get("message", "The run failed."),
                                    "type": "server_error",
                                    "param": None,
                                    "code": error.get("code"),
                                }
                            },
                        )
                    yield ("done", "[DONE]")
                    return
        finally:
            self._subscription.close()
