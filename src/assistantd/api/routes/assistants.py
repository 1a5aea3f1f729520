"""/v1/assistants"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistantd.api.caller import beta_caller, services_of
from assistantd.api.request import list_query, read_body, read_query
from assistantd.api.responses import json_response
from assistantd.wire.assistants import AssistantCreate, AssistantUpdate

router = APIRouter()


@router.post("/assistants")
async def create_assistant(request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, AssistantCreate)
    return json_response(await services_of(request).assistants.create(caller, body))


@router.get("/assistants")
async def list_assistants(request: Request) -> Response:
    caller = await beta_caller(request)
    query = list_query(read_query(request))
    return json_response(await services_of(request).assistants.list(caller, query))


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).assistants.get(caller, assistant_id))


@router.post("/assistants/{assistant_id}")
async def update_assistant(assistant_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, AssistantUpdate)
    return json_response(await services_of(request).assistants.update(caller, assistant_id, body))


@router.delete("/assistants/{assistant_id}")
async def delete_assistant(assistant_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).assistants.delete(caller, assistant_id))
