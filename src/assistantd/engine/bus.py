"""In-process fan-out of run events to the streams that follow a run.

Events are published after the state they describe is committed, so a stream is a live view
of persisted state. The bus also carries cancel requests to the worker executing a run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from assistantd.engine.events import RunEvent

Event = RunEvent


class Subscription:
    def __init__(self, bus: EventBus, run_id: str) -> None:
        self._bus = bus
        self.run_id = run_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds of silence."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        try:
            # Not wait_for: on Python 3.11 it wraps every wait in a new task.
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    def ready(self) -> list[Event]:
        """The events already waiting, without waiting for more."""
        events: list[Event] = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._cancels: dict[str, asyncio.Event] = {}

    def subscribe(self, run_id: str) -> Subscription:
        subscription = Subscription(self, run_id)
        self._subscribers[run_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        listeners = self._subscribers.get(subscription.run_id)
        if listeners is not None:
            listeners.discard(subscription)
            if not listeners:
                del self._subscribers[subscription.run_id]

    def listening(self, run_id: str) -> bool:
        """Whether any stream follows the run (publishers may skip building events if not)."""
        return run_id in self._subscribers

    def publish(self, run_id: str, event: RunEvent) -> None:
        for subscription in self._subscribers.get(run_id, ()):
            subscription.queue.put_nowait(event)

    def cancel_signal(self, run_id: str) -> asyncio.Event:
        """The event a worker watches to learn that its run is being cancelled."""
        return self._cancels.setdefault(run_id, asyncio.Event())

    def request_cancel(self, run_id: str) -> None:
        self.cancel_signal(run_id).set()

    def forget(self, run_id: str) -> None:
        self._cancels.pop(run_id, None)
