"""/v1/health: liveness plus what this server can do (no authentication, no secrets)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from assistantd import __version__

router = APIRouter()


@router.get("/health")
async def health() -> Response:
    return Response(
        content=f'{{"status":"ok","version":"{__version__}"}}', media_type="application/json"
    )
