"""Pure ASGI middleware: request id, timing headers, and the last-resort 500 envelope."""

from __future__ import annotations

import logging
import secrets
import time

import orjson
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd.errors import ServerError

log = logging.getLogger("assistantd.api")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestContextMiddleware:
    """Every response carries `x-request-id`; an unexpected exception becomes an OpenAI 500.

    A 500 on a method with side effects says `x-should-retry: false`: the SDK retries 5xx on
    every method, and we cannot prove the failed request changed nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                headers["openai-version"] = "2020-10-01"
                headers["openai-processing-ms"] = str(int(elapsed_ms))
                headers["server-timing"] = f"app;dur={elapsed_ms:.3f}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            # The client left (or was closed for sending its body too slowly) before the
            # body was read: nobody is there to answer, and it is not a server error.
            log.debug(
                "client disconnected before its request was read request_id=%s %s %s",
                request_id,
                scope.get("method"),
                scope.get("path"),
            )
        except Exception:  # the last resort: nothing may leave without the envelope
            log.exception(
                "unhandled error request_id=%s %s %s",
                request_id,
                scope.get("method"),
                scope.get("path"),
            )
            if response_started:
                raise
            error = ServerError(
                f"The server had an error while processing your request. Request id: {request_id}."
            )
            retry = "true" if scope.get("method") in _SAFE_METHODS else "false"
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"x-should-retry", retry.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(error.envelope())})
