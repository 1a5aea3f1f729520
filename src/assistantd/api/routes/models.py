"""/v1/models: the model names this server can route (the SDK sends no OpenAI-Beta header)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistantd.api.caller import plain_caller, services_of
from assistantd.api.responses import json_response

router = APIRouter()


@router.get("/models")
async def list_models(request: Request) -> Response:
    await plain_caller(request)
    return json_response(services_of(request).models.list())


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> Response:
    await plain_caller(request)
    return json_response(services_of(request).models.get(model_id))
