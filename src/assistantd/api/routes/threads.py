"""/v1/threads (including the list endpoint the hosted API never had)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistantd.api.caller import beta_caller, services_of
from assistantd.api.request import list_query, metadata_filter, read_body, read_query
from assistantd.api.responses import json_response
from assistantd.wire.threads import ThreadCreate, ThreadUpdate

router = APIRouter()


@router.post("/threads")
async def create_thread(request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, ThreadCreate)
    return json_response(await services_of(request).threads.create(caller, body))


@router.get("/threads")
async def list_threads(request: Request) -> Response:
    caller = await beta_caller(request)
    params = read_query(request, allowed=("metadata[]",))
    threads = services_of(request).threads
    return json_response(await threads.list(caller, list_query(params), metadata_filter(params)))


@router.get("/threads/{thread_id}")
async def get_thread(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).threads.get(caller, thread_id))


@router.post("/threads/{thread_id}")
async def update_thread(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, ThreadUpdate)
    return json_response(await services_of(request).threads.update(caller, thread_id, body))


@router.delete("/threads/{thread_id}")
async def delete_thread(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).threads.delete(caller, thread_id))
