"""A streamed request's view of a run: the events so far, then live ones, then `done`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from assistantd.engine.bus import Event, Subscription
from assistantd.wire.runs import TERMINAL_RUN_STATUSES

_STREAM_END = frozenset(
    {f"thread.run.{status}" for status in TERMINAL_RUN_STATUSES} | {"thread.run.requires_action"}
)


class RunStream:
    """Events for one streamed request: what happened before following began, then live ones.

    Yields batches of `(event, data)` pairs (the events that were ready together, so they can
    leave in one write), `None` for a keep-alive pause, and ends after the run stops or needs
    the client, with `done`. A failed run adds an `error` event first.
    """

    def __init__(
        self, initial: list[Event], subscription: Subscription, keepalive_seconds: float
    ) -> None:
        self._initial = initial
        self._subscription = subscription
        self._keepalive = keepalive_seconds

    async def batches(self) -> AsyncIterator[list[Event] | None]:
        try:
            if self._initial:
                yield list(self._initial)
            while True:
                live = await self._subscription.next(self._keepalive)
                if live is None:
                    yield None
                    continue
                batch: list[Event] = []
                for event in (live, *self._subscription.ready()):
                    batch.append(event)
                    name, data = event
                    if name in _STREAM_END:
                        batch.extend(_ending(name, data))
                        yield batch
                        return
                yield batch
        finally:
            self._subscription.close()


def _ending(name: str, data: Any) -> list[Event]:
    """What follows the run's last event: `error` for a failed run, then `done`."""
    if name != "thread.run.failed":
        return [("done", "[DONE]")]
    error = data.get("last_error") or {}
    return [
        (
            "error",
            {
                "error": {
                    "message": error.get("message", "The run failed."),
                    "type": "server_error",
                    "param": None,
                    "code": error.get("code"),
                }
            },
        ),
        ("done", "[DONE]"),
    ]
