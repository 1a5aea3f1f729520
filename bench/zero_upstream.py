"""A zero-latency OpenAI-compatible model server for benchmarks, run as its own process.

`bench/runs.py` starts it with `sys.executable bench/zero_upstream.py --port P` so that the
model's work never shares a GIL with the server or with the bench client. It is a raw asyncio
HTTP/1.1 server (uvloop when installed, keep-alive, `Content-Length` request bodies only),
because the bench measures the server's overhead and the model should cost as little as possible.

    POST /v1/chat/completions  answers at once with a short fixed text: streamed (a role chunk,
                               `CONTENT` in several content chunks, each written on its own, a
                               finish chunk, a usage chunk if `stream_options.include_usage`,
                               `data: [DONE]`) or, without `stream`, as one `chat.completion`.
    GET  /v1/models            one model.
    GET  /stats                `{"requests": n, "runs": {marker: [arrived, first, finished]}}`
    POST /stats/reset          forget the recorded timings.

Timings are `time.time()` seconds (the bench compares them with its own `time.time()`, same
machine): `arrived` when the first bytes of the request were read, `first` just before the first
content chunk was written, `finished` after the last byte of the response was written. They are
recorded per marker: the first `run-<digits>` in the last user message, so the bench can match
each upstream request with the run that made it (a request without a marker is only counted).

Zero latency means that a stream's chunks all leave within a fraction of a millisecond. A last
user message containing `gap-<ms>ms` (e.g. `gap-5ms`) spaces the content chunks of a streamed
answer that many milliseconds apart instead, like a model producing tokens; `wait-<ms>ms` holds
the first content chunk back that long (a model that thinks before it answers; `first` is then
when that chunk left, so a bench can tell the model's own latency from the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import signal
import time
from dataclasses import dataclass
from typing import Any, cast

MODEL_ID = "zero-latency"
CONTENT = ["Hello", " from", " the", " zero", " upstream"]
MARKER = re.compile(r"run-\d+")
GAP = re.compile(r"gap-(\d+(?:\.\d+)?)ms")
WAIT = re.compile(r"wait-(\d+(?:\.\d+)?)ms")
MAX_HEAD = 64 * 1024


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return ""
    return ""


class Recorder:
    """Per-marker timings of the chat completion requests answered so far."""

    def __init__(self) -> None:
        self.requests = 0
        self.runs: dict[str, list[float]] = {}
        self.ids = itertools.count(1)

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "runs": self.runs}

    def reset(self) -> None:
        self.requests = 0
        self.runs = {}


class Completion:
    """The fixed answer to one chat completion request, as bytes to write."""

    def __init__(self, recorder: Recorder, body: dict[str, Any]) -> None:
        self.id = f"chatcmpl-{next(recorder.ids)}"
        self.created = int(time.time())
        self.model = str(body.get("model") or MODEL_ID)
        options = body.get("stream_options") or {}
        self.include_usage = bool(options.get("include_usage"))
        prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
        completion_tokens = len(CONTENT)
        self.usage = {
            "prompt_tokens": prompt_chars // 4 + 1,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_chars // 4 + 1 + completion_tokens,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
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
            chunk["usage"] = None
        return b"data: " + dumps(chunk) + b"\n\n"

    def usage_chunk(self) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": self.usage,
        }
        return b"data: " + dumps(chunk) + b"\n\n"

    def message(self) -> bytes:
        message = {"role": "assistant", "content": "".join(CONTENT), "refusal": None}
        return dumps(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
                ],
                "usage": self.usage,
            }
        )


@dataclass
class Stream:
    """A streamed answer being written: what `record` needs once it is done."""

    completion: Completion
    marker: str | None
    arrived: float
    first: float = 0.0


def response_head(status: str, content_type: str, length: int | None, close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {content_type}"]
    lines.append("transfer-encoding: chunked" if length is None else f"content-length: {length}")
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests as their bytes arrive, answer at once."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.arrived = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            self.arrived = time.time()
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.fail("431 Request Header Fields Too Large")
                return
            lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
            method, target, _version = [*lines[0].split(" "), "", "", ""][:3]
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.fail("411 Length Required")
                return
            length = int(headers.get("content-length") or 0)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body = bytes(self.buffer[head_end + 4 : end])
            del self.buffer[:end]
            close = headers.get("connection", "").lower() == "close"
            self.handle(method, target.split("?")[0], body, self.arrived, close)
            self.arrived = time.time()
            if close and self.transport is not None:
                self.transport.close()

    def fail(self, status: str) -> None:
        assert self.transport is not None
        self.transport.write(response_head(status, "text/plain", 0, close=True))
        self.transport.close()

    def respond(self, status: str, payload: bytes, close: bool) -> None:
        assert self.transport is not None
        head = response_head(status, "application/json", len(payload), close)
        self.transport.write(head + payload)

    def handle(self, method: str, path: str, body: bytes, arrived: float, close: bool) -> None:
        if method == "POST" and path == "/v1/chat/completions":
            self.chat_completions(body, arrived, close)
        elif method == "GET" and path == "/v1/models":
            model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "bench"}
            self.respond("200 OK", dumps({"object": "list", "data": [model]}), close)
        elif method == "GET" and path == "/stats":
            self.respond("200 OK", dumps(self.recorder.stats()), close)
        elif method == "POST" and path == "/stats/reset":
            self.recorder.reset()
            self.respond("200 OK", b"{}", close)
        else:
            error = {"message": f"no route {method} {path}", "type": "invalid_request_error"}
            self.respond("404 Not Found", dumps({"error": error}), close)

    def chat_completions(self, raw: bytes, arrived: float, close: bool) -> None:
        assert self.transport is not None
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            error = {"message": "request body is not a JSON object", "type": "invalid_request"}
            self.respond("400 Bad Request", dumps({"error": error}), close)
            return
        self.recorder.requests += 1
        text = last_user_text(body)
        found = MARKER.search(text)
        marker = found.group(0) if found else None
        completion = Completion(self.recorder, body)
        if not body.get("stream"):
            first = time.time()
            self.respond("200 OK", completion.message(), close)
            self.record(marker, arrived, first)
            return
        self.transport.write(response_head("200 OK", "text/event-stream", None, close))
        self.transport.write(http_chunk(completion.chunk({"role": "assistant", "content": ""})))
        stream = Stream(completion, marker, arrived)
        gap, wait = GAP.search(text), WAIT.search(text)
        if gap is None and wait is None:
            for index in range(len(CONTENT)):
                self.write_content(stream, index)
            return
        loop = asyncio.get_running_loop()
        start = loop.time() + (float(wait.group(1)) / 1000 if wait else 0.0)
        if gap is None:  # all at once after the wait (timers due together run in any order)
            loop.call_at(start, self.write_all, stream)
            return
        seconds = float(gap.group(1)) / 1000
        for index in range(len(CONTENT)):
            loop.call_at(start + index * seconds, self.write_content, stream, index)

    def write_all(self, stream: Stream) -> None:
        for index in range(len(CONTENT)):
            self.write_content(stream, index)

    def write_content(self, stream: Stream, index: int) -> None:
        """Content chunk `index`; after the last one, the rest of the stream."""
        if self.transport is None or self.transport.is_closing():
            return
        if index == 0:
            stream.first = time.time()
        write = self.transport.write
        write(http_chunk(stream.completion.chunk({"content": CONTENT[index]})))
        if index < len(CONTENT) - 1:
            return
        write(http_chunk(stream.completion.chunk({}, "stop")))
        if stream.completion.include_usage:
            write(http_chunk(stream.completion.usage_chunk()))
        write(http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        self.record(stream.marker, stream.arrived, stream.first)

    def record(self, marker: str | None, arrived: float, first: float) -> None:
        if marker is not None:
            self.recorder.runs[marker] = [arrived, first, time.time()]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    recorder = Recorder()
    server = await loop.create_server(lambda: UpstreamProtocol(recorder), host, port)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"zero upstream listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await stopping.wait()
    print("zero upstream stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
