"""PostgreSQL's LISTEN/NOTIFY between processes: one connection listens on the channels, one
sends, in order. A payload past NOTIFY's limit (8000 bytes) goes in numbered pieces that the
listener joins: one session's notifications arrive in the order it sent them."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql

log = logging.getLogger("assistantd.store")

# Characters per piece: at most 4 bytes each in UTF-8, with room for the header, under 8000.
PIECE_CHARS = 1900
RECONNECT_SECONDS = 1.0
START_TIMEOUT_SECONDS = 30.0

Handler = Callable[[str, bool], None]
"""Called with a whole payload and whether this process sent it."""


def pieces(sender: str, number: int, payload: str) -> list[str]:
    """`payload` as notification payloads: `sender:number:index:count:` and a piece."""
    parts = [payload[i : i + PIECE_CHARS] for i in range(0, len(payload), PIECE_CHARS)] or [""]
    return [f"{sender}:{number}:{i}:{len(parts)}:{part}" for i, part in enumerate(parts)]


class Joiner:
    """Joins the pieces of payloads, whoever sent them, in any interleaving of senders."""

    def __init__(self) -> None:
        self._partial: dict[tuple[str, str], list[str]] = {}

    def add(self, text: str) -> tuple[str, str] | None:
        """The sender and whole payload once its last piece arrives; None before (or when a
        piece was lost). A payload not sent by `Notifications` (a `pg_notify` in SQL, as a
        job's announcement) is whole as it is, from no sender of ours."""
        header = text.split(":", 4)
        if len(header) != 5 or not (header[2].isdigit() and header[3].isdigit()):
            return "", text
        sender, number, index, count, part = header
        if count == "1":
            return sender, part
        key = (sender, number)
        parts = self._partial.setdefault(key, [])
        if str(len(parts)) != index:  # a piece was lost (a reconnect): drop the payload
            self._partial.pop(key, None)
            return None
        parts.append(part)
        if len(parts) < int(count):
            return None
        del self._partial[key]
        return sender, "".join(parts)


class Notifications:
    """Sends (`send`, ordered, never waiting) and receives notifications on the channels of
    the handlers given to `start`; each payload goes to its channel's handler."""

    def __init__(self, libpq_url: str) -> None:
        self._url = libpq_url
        self._handlers: dict[str, Handler] = {}
        self._sender_id = secrets.token_hex(4)
        self._numbers = 0
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self, handlers: Mapping[str, Handler]) -> None:
        """Listen on the `handlers`' channels (given here: they belong to objects built with
        this one's `send`); returns once listening."""
        self._handlers = dict(handlers)
        self._tasks = [
            asyncio.create_task(self._listen(), name="assistantd-listen"),
            asyncio.create_task(self._send_loop(), name="assistantd-notify"),
        ]
        try:
            await asyncio.wait_for(self._listening.wait(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"could not LISTEN on the database within {START_TIMEOUT_SECONDS:g} s"
            ) from None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def send(self, channel: str, payload: str) -> None:
        self._numbers += 1
        for piece in pieces(self._sender_id, self._numbers, payload):
            self._outbox.put_nowait((channel, piece))

    async def _listen(self) -> None:
        joiner = Joiner()
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    for channel in self._handlers:
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self._listening.set()
                    async for note in conn.notifies():
                        handler = self._handlers.get(note.channel)
                        whole = joiner.add(note.payload)
                        if handler is not None and whole is not None:
                            sender, payload = whole
                            self._dispatch(
                                handler, note.channel, payload, sender == self._sender_id
                            )
            except psycopg.Error:
                log.exception("listening for notifications failed; reconnecting")
                await asyncio.sleep(RECONNECT_SECONDS)

    @staticmethod
    def _dispatch(handler: Handler, channel: str, payload: str, own: bool) -> None:
        try:
            handler(payload, own)
        except Exception:  # one bad payload must not stop the listener
            log.exception("a %s notification could not be handled", channel)

    async def _send_loop(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    while True:
                        batch = [await self._outbox.get()]
                        while not self._outbox.empty():
                            batch.append(self._outbox.get_nowait())
                        # One round trip for the batch; the statements run in order.
                        async with conn.pipeline():
                            for channel, piece in batch:
                                await conn.execute("SELECT pg_notify(%s, %s)", (channel, piece))
            except psycopg.Error:
                log.exception("sending notifications failed; reconnecting")
                await asyncio.sleep(RECONNECT_SECONDS)
