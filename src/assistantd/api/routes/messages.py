"""/v1/threads/{thread_id}/messages"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistantd.api.caller import beta_caller, services_of
from assistantd.api.request import list_query, read_body, read_query
from assistantd.api.responses import json_response
from assistantd.wire.messages import MessageCreate, MessageUpdate

router = APIRouter()


@router.post("/threads/{thread_id}/messages")
async def create_message(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, MessageCreate)
    return json_response(await services_of(request).messages.create(caller, thread_id, body))


@router.get("/threads/{thread_id}/messages")
async def list_messages(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    params = read_query(request, allowed=("run_id",))
    page = await services_of(request).messages.list(
        caller, thread_id, list_query(params), run_id=params.get("run_id")
    )
    return json_response(page)


@router.get("/threads/{thread_id}/messages/{message_id}")
async def get_message(thread_id: str, message_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).messages.get(caller, thread_id, message_id))


@router.post("/threads/{thread_id}/messages/{message_id}")
async def update_message(thread_id: str, message_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, MessageUpdate)
    messages = services_of(request).messages
    return json_response(await messages.update(caller, thread_id, message_id, body))


@router.delete("/threads/{thread_id}/messages/{message_id}")
async def delete_message(thread_id: str, message_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    messages = services_of(request).messages
    return json_response(await messages.delete(caller, thread_id, message_id))
