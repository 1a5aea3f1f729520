"""Connection limits of the HTTP server: deadlines for request headers and bodies, and a cap on
open connections, so that slow or idle clients cannot hold the server's connections forever.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`); it waits for a
request's headers and body as long as the client likes, one byte at a time. `guarded_protocol`
returns its httptools protocol with the missing deadlines, armed from the parser's callbacks:

- headers: the request line and headers must arrive within `header_seconds` of the connection
  opening (or of the first byte of a later request on it); a connection that sends nothing at
  all is closed then too;
- body: the body must keep coming: at most `body_idle_seconds` between two reads, and, after
  that grace, on average at least `body_min_bytes_per_second` (a trickle of one byte a second
  is not an upload). A 512 MB upload on a slow but steady link passes both.

A client past a deadline gets a 408 with the OpenAI error envelope (when it had begun a request
and no response has started on the connection) and the connection is closed. Time the server
itself is behind (it stopped reading because the application has not consumed the body yet)
never counts against the client. Responses are never timed: a long event stream is not cut.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from assistantd.errors import AssistantdError, InvalidRequestError, ServiceUnavailableError

log = logging.getLogger("assistantd.api")

_SUMMARY_SECONDS = 10.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_seconds: float
    body_idle_seconds: float
    body_min_bytes_per_second: int
    max_connections: int


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """The protocol class to pass as uvicorn's `http=`, enforcing `limits`."""

    class Protocol(GuardedHttpProtocol):
        pass

    Protocol.limits = limits
    return Protocol


def timeout_response(message: str) -> bytes:
    """A complete HTTP/1.1 408 response carrying the OpenAI envelope, closing the connection."""
    error = InvalidRequestError(message, code="request_timeout")
    return _raw_response(408, b"Request Timeout", error)


def _raw_response(status: int, reason: bytes, error: AssistantdError) -> bytes:
    body = orjson.dumps(error.envelope())
    head = [
        b"HTTP/1.1 %d %s" % (status, reason),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    head += [f"{name}: {value}".encode() for name, value in error.headers.items()]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class _Closures:
    """Counts connections refused or closed for a limit, logged at most once every few seconds
    (the first at once): a slow-loris attack must not also flood the log."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._logged_at = -_SUMMARY_SECONDS

    def record(self, reason: str) -> None:
        self._counts[reason] = self._counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._logged_at >= _SUMMARY_SECONDS:
            summary = ", ".join(f"{n} {why}" for why, n in sorted(self._counts.items()))
            log.warning("connection limits: %s", summary)
            self._counts.clear()
            self._logged_at = now


_closures = _Closures()


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # "headers" or "body" while a deadline runs
        self._started = 0.0  # when the phase began
        self._last_read = 0.0
        self._body_bytes = 0
        self._begun = False  # a request has started on this connection

    # The connection: the first request's headers are due `header_seconds` after it opens.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    # Parser callbacks.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._phase != "headers":  # a later request on a kept-alive connection
            self._begin("headers")

    def on_headers_complete(self) -> None:
        self._begin("body")
        if len(self.connections) <= self.limits.max_connections:
            super().on_headers_complete()
            return
        _closures.record("over the connection limit")
        app = self.app
        self.app = cast(Any, _too_many_connections)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_body(self, body: bytes) -> None:
        self._last_read = self.loop.time()
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop()
        super().on_message_complete()

    # Deadlines.
    def _begin(self, phase: str) -> None:
        self._stop()
        self._phase = phase
        self._started = self._last_read = self.loop.time()
        self._body_bytes = 0
        self._arm()

    def _stop(self) -> None:
        self._phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> float:
        limits = self.limits
        if self._phase == "headers":
            return self._started + limits.header_seconds
        due = self._last_read + limits.body_idle_seconds
        if limits.body_min_bytes_per_second > 0:
            paced = self._body_bytes / limits.body_min_bytes_per_second
            due = min(due, self._started + limits.body_idle_seconds + paced)
        return due

    def _arm(self) -> None:
        self._timer = self.loop.call_at(self._due(), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._phase is None or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The server stopped reading (the application has not taken the body so far, or
            # a pipelined request waits for the one before it): the client is not late.
            self._started = self._last_read = self.loop.time()
            self._body_bytes = 0
        elif self.loop.time() >= self._due():
            self._expire()
            return
        self._arm()

    def _expire(self) -> None:
        phase = self._phase
        self._stop()
        cycle = self.cycle
        if phase == "headers":
            reason = "request headers not received in time"
            message = (
                f"The request headers did not arrive within {self.limits.header_seconds:g} "
                "seconds; the connection was closed."
            )
            # A connection that never sent a byte is closed without a word (there is no
            # request to answer); `cycle` is the previous request: its response must be over.
            can_answer = self._begun and (cycle is None or cycle.response_complete)
        else:
            reason = "request body too slow"
            message = "The request body arrived too slowly; the connection was closed."
            can_answer = cycle is not None and not cycle.response_started
        _closures.record(reason)
        if cycle is not None and not cycle.response_complete:
            # The application may still be running: from now on it reads a disconnect and
            # its writes go nowhere, so nothing follows our response on the wire.
            cycle.disconnected = True
            cycle.message_event.set()
        if can_answer:
            self.transport.write(timeout_response(message))
        self.transport.close()


async def _too_many_connections(scope: Scope, receive: Receive, send: Send) -> None:
    error = ServiceUnavailableError(
        "The server has too many open connections; please retry shortly.", retry_after_ms=1000
    )
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers += [(name.encode(), value.encode()) for name, value in error.headers.items()]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(error.envelope())})
