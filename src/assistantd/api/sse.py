"""Server-sent events framing for run streams (wire-spec section 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from fastapi.responses import StreamingResponse

from assistantd.service.run_stream import RunStream

KEEP_ALIVE = b": keep-alive\n\n"


async def _frames(stream: RunStream) -> AsyncIterator[bytes]:
    async for item in stream.events():
        if item is None:
            yield KEEP_ALIVE
            continue
        name, data = item
        payload = data if isinstance(data, str) else orjson.dumps(data).decode()
        yield f"event: {name}\ndata: {payload}\n\n".encode()


def sse_response(stream: RunStream) -> StreamingResponse:
    return StreamingResponse(
        _frames(stream),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
