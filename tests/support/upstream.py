"""A scripted, deterministic OpenAI-compatible model server for tests.

`ScriptedUpstream` is "the model" that assistantd calls: a real HTTP server on
127.0.0.1 (a free port, loopback only) serving `POST /v1/chat/completions` and
`GET /v1/models` with the wire format of the OpenAI Chat Completions API. It runs
uvicorn in a daemon thread with its own event loop, so tests in the main thread
can call it through any real client.

Tests script what the model answers: `push()` queues replies, and each incoming
chat completion request consumes the next one (FIFO); when the queue is empty the
server answers with `default_reply`. Every request body is recorded in `requests`
before the reply is produced, so tests can assert what reached the model even
when the scripted reply is a failure. `peak_in_flight` is the most chat completion requests
it was answering at once (since the last `reset()`).

    with ScriptedUpstream() as upstream:
        upstream.push(Text("Hello!"), ToolCalls([("lookup", '{"q": "x"}')]))
        ...  # point the code under test at upstream.base_url

Replies:

- `Text`: an assistant answer, streamed in chunks of `chunk_size` characters.
- `ToolCalls`: one or more function calls (ids `call_<n>`, unique per server).
- `HttpError`: an error status with an OpenAI error envelope.
- `CutStream`: a stream the server aborts mid-body (no `data: [DONE]`).
- `Malformed`: a stream whose data line is not JSON, then `data: [DONE]`.
- `Hang`: nothing at all for `seconds`, then the default reply.

`CutStream` and `Malformed` always answer as streams, even to a non-streaming request.
A reply still waiting (`Hang`, `delay`) when the client disconnects or `stop()` is
called ends early with a 503 error instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL_ID = "scripted-model"
ARGUMENT_FRAGMENT = 8  # characters of tool-call arguments per streamed chunk


@dataclass(frozen=True)
class Text:
    """A text answer.

    `delay`: seconds before the response starts (the headers come after it).
    `chunk_delay`: pause between streamed chunks. `usage`: (prompt_tokens,
    completion_tokens); None computes a deterministic fake (see `fake_usage`).
    """

    content: str
    chunk_size: int = 4
    delay: float = 0.0
    chunk_delay: float = 0.0
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")


@dataclass(frozen=True)
class ToolCalls:
    """Function calls, each (name, arguments JSON string); finish_reason "tool_calls".

    `content`, if given, comes before the calls (streamed in chunks of 4 characters).
    """

    calls: list[tuple[str, str]]
    content: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    usage: tuple[int, int] | None = None


@dataclass(frozen=True)
class HttpError:
    """An error status with `{"error": {...}}`; `retry_after` adds a retry-after header."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None


@dataclass(frozen=True)
class CutStream:
    """A streamed text answer aborted after `after_chunks` content chunks (4 characters each).

    The role chunk goes first, then the content chunks; then the server drops the
    connection mid-body: no finish chunk, no `data: [DONE]`, no end of the chunked body.
    """

    content: str = "partial"
    after_chunks: int = 1


@dataclass(frozen=True)
class Malformed:
    """A stream whose only data line is `data: {not json`, followed by `data: [DONE]`."""


@dataclass(frozen=True)
class Hang:
    """Send nothing for `seconds` (for client timeouts), then answer with the default reply."""

    seconds: float


Reply = Text | ToolCalls | HttpError | CutStream | Malformed | Hang

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class _CutConnection(Exception):
    """Raised inside a streaming body so that uvicorn drops the connection."""


class _HideCutConnection(logging.Filter):
    """Keep uvicorn from logging the deliberate `_CutConnection` as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, _CutConnection):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


_HIDE_CUT_CONNECTION = _HideCutConnection()


def message_characters(body: dict[str, Any]) -> int:
    """Characters of all message contents: strings, plus the `text` of content parts."""
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"])
    return total


def fake_usage(body: dict[str, Any], completion: str) -> tuple[int, int]:
    """Deterministic token counts: characters // 4 + 1 for the prompt and the completion."""
    return message_characters(body) // 4 + 1, len(completion) // 4 + 1


def usage_object(tokens: tuple[int, int]) -> dict[str, int]:
    prompt, completion = tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    error_type = _ERROR_TYPES.get(
        status, "server_error" if status >= 500 else "invalid_request_error"
    )
    code = "rate_limit_exceeded" if status == 429 else None
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def stopped() -> JSONResponse:
    """What a delayed reply becomes when the client left or the server stops meanwhile."""
    return JSONResponse(error_body(503, "scripted upstream stopped"), status_code=503)


EMBEDDING_DIMENSIONS = 64


def word_vector(text: str) -> list[float]:
    """Each lower-cased word adds 1 to a dimension chosen by a stable hash of the word."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in text.lower().split():
        digest = sum(ord(ch) * (i + 1) for i, ch in enumerate(word))
        vector[digest % EMBEDDING_DIMENSIONS] += 1.0
    return vector


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n"


class ScriptedUpstream:
    """The scripted model server; see the module docstring."""

    default_reply: Reply = Text("ok")

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Condition()
        self._ids = itertools.count(1)  # completion ids, for the server's lifetime
        self._call_ids = itertools.count(1)  # tool call ids, for the server's lifetime
        self._stopping = threading.Event()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout: float = 10.0) -> ScriptedUpstream:
        """Serve on a free loopback port; return once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            log_config=None,  # leave the test process's logging configuration alone
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        logging.getLogger("uvicorn.error").addFilter(_HIDE_CUT_CONNECTION)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="scripted-upstream",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("scripted upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Shut down; responses still running after `grace` seconds are cut off."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(grace)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join()
        self._server = self._thread = None
        self._stopping.clear()

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        """Queue replies; each chat completion request consumes the next one."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests (ids keep counting)."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.embedding_requests.clear()
            self.peak_in_flight = self.in_flight

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least `n` requests were recorded; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests after {timeout}s")

    async def _pause(self, request: Request, seconds: float) -> bool:
        """Sleep up to `seconds`; False (early) if the client went away or the server stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.is_set() or await request.is_disconnected():
                return False
            await asyncio.sleep(min(left, 0.05))
        return True

    def _record(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self._lock.notify_all()
            return self._queue.popleft() if self._queue else self.default_reply

    # -- HTTP ----------------------------------------------------------------

    async def _models(self, request: Request) -> Response:
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "tests"}
        return JSONResponse({"object": "list", "data": [model]})

    async def _embeddings(self, request: Request) -> Response:
        """Deterministic bag-of-words vectors: texts sharing words are similar."""
        body = await request.json()
        with self._lock:
            self.embedding_requests.append(body)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": word_vector(text)}
            for i, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return JSONResponse(
            {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        )

    async def _chat_completions(self, request: Request) -> Response:
        """`_answer`, counted in `in_flight` until the whole response (a stream too) is sent."""
        self._count_in_flight(+1)
        try:
            response = await self._answer(request)
        except BaseException:
            self._count_in_flight(-1)
            raise
        if not isinstance(response, StreamingResponse):
            self._count_in_flight(-1)
            return response
        body = response.body_iterator

        async def counted() -> AsyncIterator[str | bytes | memoryview[int]]:
            try:
                async for part in body:
                    yield part
            finally:
                self._count_in_flight(-1)

        response.body_iterator = counted()
        return response

    def _count_in_flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def _answer(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(error_body(400, "request body is not valid JSON"), status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(error_body(400, "request body must be an object"), status_code=400)
        reply = self._record(body)
        while isinstance(reply, Hang):
            if not await self._pause(request, reply.seconds):
                return stopped()
            reply = self.default_reply
        if isinstance(reply, HttpError):
            headers = {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}
            content = error_body(reply.status, reply.message)
            return JSONResponse(content, status_code=reply.status, headers=headers)
        if isinstance(reply, Text | ToolCalls) and not await self._pause(request, reply.delay):
            return stopped()
        completion = _Completion(
            id=f"chatcmpl-{next(self._ids)}",
            created=int(time.time()),
            model=str(body.get("model") or MODEL_ID),
            body=body,
        )
        if isinstance(reply, ToolCalls):
            calls = [(f"call_{next(self._call_ids)}", name, args) for name, args in reply.calls]
        else:
            calls = []
        if not body.get("stream"):
            if isinstance(reply, Text):
                return JSONResponse(
                    completion.message(reply.content, [], reply.finish_reason, reply.usage)
                )
            if isinstance(reply, ToolCalls):
                return JSONResponse(
                    completion.message(reply.content, calls, "tool_calls", reply.usage)
                )
            # CutStream and Malformed only exist as streams: answer like a stream.
        return StreamingResponse(
            self._stream(completion, reply, calls), media_type="text/event-stream"
        )

    async def _stream(
        self, completion: _Completion, reply: Reply, calls: list[tuple[str, str, str]]
    ) -> AsyncIterator[str]:
        if isinstance(reply, Malformed):
            yield "data: {not json\n\n"
            yield sse("[DONE]")
            return
        if isinstance(reply, CutStream):
            yield sse(completion.chunk({"role": "assistant", "content": ""}))
            for piece in chunks(reply.content, 4)[: reply.after_chunks]:
                yield sse(completion.chunk({"content": piece}))
            raise _CutConnection("scripted connection cut")
        assert isinstance(reply, Text | ToolCalls)
        if isinstance(reply, Text):
            content, size, finish = reply.content, reply.chunk_size, reply.finish_reason
        else:
            content, size, finish = reply.content or "", 4, "tool_calls"
        chunks_out = [completion.chunk(delta) for delta in completion.deltas(content, size, calls)]
        chunks_out.append(completion.chunk({}, finish))
        for index, chunk in enumerate(chunks_out):
            if index and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield sse(chunk)
        if completion.include_usage:
            yield sse(completion.usage_chunk(content, calls, reply.usage))
        yield sse("[DONE]")


@dataclass
class _Completion:
    """One chat completion being answered: builds its response objects."""

    id: str
    created: int
    model: str
    body: dict[str, Any] = field(repr=False)

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(self.body.get("stream") and options.get("include_usage"))

    def _usage(
        self, content: str | None, calls: list[tuple[str, str, str]], usage: tuple[int, int] | None
    ) -> dict[str, int]:
        completion = (content or "") + "".join(name + args for _, name, args in calls)
        return usage_object(usage or fake_usage(self.body, completion))

    def message(
        self,
        content: str | None,
        calls: list[tuple[str, str, str]],
        finish_reason: str,
        usage: tuple[int, int] | None,
    ) -> dict[str, Any]:
        """A whole `chat.completion` object."""
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {"id": id_, "type": "function", "function": {"name": name, "arguments": args}}
                for id_, name, args in calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": self._usage(content, calls, usage),
        }

    def deltas(
        self, content: str, size: int, calls: list[tuple[str, str, str]]
    ) -> Iterator[dict[str, Any]]:
        """The deltas of a stream, before its finish chunk: role, content, tool calls."""
        yield {"role": "assistant", "content": ""}
        for piece in chunks(content, size):
            yield {"content": piece}
        for index, (id_, name, args) in enumerate(calls):
            function = {"name": name, "arguments": ""}
            yield {
                "tool_calls": [
                    {"index": index, "id": id_, "type": "function", "function": function}
                ]
            }
            for piece in chunks(args, ARGUMENT_FRAGMENT):
                yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        """A `chat.completion.chunk` with one choice."""
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None  # as OpenAI does: only the final chunk carries usage
        return chunk

    def usage_chunk(
        self, content: str, calls: list[tuple[str, str, str]], usage: tuple[int, int] | None
    ) -> dict[str, Any]:
        """The final chunk of a stream with `include_usage`: no choices, only usage."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": self._usage(content, calls, usage),
        }
