"""Server-sent events framing for run streams (wire-spec section 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from fastapi.responses import StreamingResponse

from assistantd.service.run_stream import RunStream

KEEP_ALIVE = b": keep-alive\n\n"


async def _frames(stream: RunStream) -> AsyncIterator[bytes]:
    # Events that were ready together leave as one body chunk: one write instead of one per
    # event through the ASGI stack (the bytes on the wire are the same).
    async for batch in stream.batches():
        if batch is None:
            yield KEEP_ALIVE
            continue
        yield b"".join(_frame(name, data) for name, data in batch)


def _frame(name: str, data: object) -> bytes:
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def sse_response(stream: RunStream) -> StreamingResponse:
    return StreamingResponse(
        _frames(stream),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
