"""Fan-out of run events to the streams that follow a run, in this process and (PostgreSQL)
in others.

Events are published after the state they describe is committed, so a stream is a live view
of persisted state. Every event reaches this process's streams directly. With a `send` link
(LISTEN/NOTIFY on PostgreSQL) the events of a run a stream elsewhere follows (`relay`), and
those published `everywhere` (a run ended by a cancel or expiry outside its worker), go to the
other processes too, which hand them to their own streams (`inbound`). The bus also carries
cancel requests to the worker executing a run, wherever it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

from assistantd.engine import event_codec
from assistantd.engine.events import RunEvent

log = logging.getLogger("assistantd.engine")

Event = RunEvent
RUN_EVENTS_CHANNEL = "assistantd_run_events"
CANCELS_CHANNEL = "assistantd_cancels"
# How many events a stream may fall behind before it is dropped: a reader that slow must not
# grow the server's memory, nor slow the run or the other readers (who never wait for it).
STREAM_BUFFER = 10_000

Send = Callable[[str, str], None]
"""Sends a payload on a channel to every process (never waits)."""


class Subscription:
    def __init__(self, bus: EventBus, run_id: str) -> None:
        self._bus = bus
        self.run_id = run_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.overflowed = False  # fell more than STREAM_BUFFER events behind; gets no more

    def put(self, event: Event) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= STREAM_BUFFER:
            self.overflowed = True
            log.warning(
                "run_id=%s a stream fell %d events behind: dropped", self.run_id, STREAM_BUFFER
            )
            return
        self.queue.put_nowait(event)

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
    def __init__(self, send: Send | None = None) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._cancels: dict[str, asyncio.Event] = {}
        self._send = send
        self._relayed: set[str] = set()

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

    def relay(self, run_id: str) -> None:
        """A stream in another process may follow this run: send its events out too (until
        `forget`). Without a link to other processes there is nobody to send them to."""
        if self._send is not None:
            self._relayed.add(run_id)

    def listening(self, run_id: str) -> bool:
        """Whether any stream follows the run (publishers may skip building events if not)."""
        return run_id in self._subscribers or run_id in self._relayed

    def publish(self, run_id: str, event: RunEvent, *, everywhere: bool = False) -> None:
        self._deliver(run_id, event)
        if self._send is not None and (everywhere or run_id in self._relayed):
            self._send(RUN_EVENTS_CHANNEL, event_codec.encode(run_id, event))

    def _deliver(self, run_id: str, event: RunEvent) -> None:
        for subscription in self._subscribers.get(run_id, ()):
            subscription.put(event)

    def cancel_signal(self, run_id: str) -> asyncio.Event:
        """The event a worker watches to learn that its run is being cancelled."""
        return self._cancels.setdefault(run_id, asyncio.Event())

    def request_cancel(self, run_id: str) -> None:
        """Tell the run's worker, here or in any process, to stop it (the run is already
        marked `cancelling`; a worker that is not watching yet sees that when it reads it)."""
        self._cancel_here(run_id)
        if self._send is not None:
            self._send(CANCELS_CHANNEL, run_id)

    def _cancel_here(self, run_id: str) -> None:
        signal = self._cancels.get(run_id)
        if signal is not None:
            signal.set()

    def forget(self, run_id: str) -> None:
        self._cancels.pop(run_id, None)
        self._relayed.discard(run_id)

    def inbound(self) -> dict[str, Callable[[str, bool], None]]:
        """The handlers of what other processes send, by channel (own sends are skipped:
        they were delivered here already)."""

        def on_event(payload: str, own: bool) -> None:
            if own or event_codec.run_id_of(payload) not in self._subscribers:
                return  # decoded only where a stream follows the run
            run_id, event = event_codec.decode(payload)
            self._deliver(run_id, event)

        def on_cancel(run_id: str, own: bool) -> None:
            if not own:
                self._cancel_here(run_id)

        return {RUN_EVENTS_CHANNEL: on_event, CANCELS_CHANNEL: on_cancel}
