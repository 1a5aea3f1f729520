"""/v1/health: liveness plus what this server can do (no authentication, no secrets)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from assistantd.api.caller import services_of

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Response:
    status = services_of(request).health.status()
    return Response(content=orjson.dumps(status), media_type="application/json")
