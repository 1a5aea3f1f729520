"""/v1/vector_stores, their files and file batches, and search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from assistantd.api.caller import beta_caller, services_of
from assistantd.api.request import list_query, read_body, read_query
from assistantd.api.responses import json_response
from assistantd.api.validation import invalid_request
from assistantd.wire.vector_stores import (
    FileBatchCreate,
    SearchRequest,
    VectorStoreCreate,
    VectorStoreFileCreate,
    VectorStoreFileListQuery,
    VectorStoreFileUpdate,
    VectorStoreUpdate,
)

router = APIRouter()

STORE = "/vector_stores/{vector_store_id}"


def _poll_headers(request: Request) -> dict[str, str]:
    return {"openai-poll-after-ms": str(services_of(request).settings.poll_after_ms)}


def _file_list_query(request: Request) -> VectorStoreFileListQuery:
    params: dict[str, Any] = read_query(request, allowed=("filter",))
    try:
        return VectorStoreFileListQuery.model_validate(params)
    except ValidationError as exc:
        raise invalid_request(exc, params) from exc


# --- stores ---------------------------------------------------------------------------------


@router.post("/vector_stores")
async def create_store(request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, VectorStoreCreate)
    return json_response(await services_of(request).vector_stores.create(caller, body))


@router.get("/vector_stores")
async def list_stores(request: Request) -> Response:
    caller = await beta_caller(request)
    query = list_query(read_query(request))
    return json_response(await services_of(request).vector_stores.list(caller, query))


@router.get(STORE)
async def get_store(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    store = await services_of(request).vector_stores.get(caller, vector_store_id)
    return json_response(store, headers=_poll_headers(request))


@router.post(STORE)
async def update_store(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, VectorStoreUpdate)
    service = services_of(request).vector_stores
    return json_response(await service.update(caller, vector_store_id, body))


@router.delete(STORE)
async def delete_store(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).vector_stores.delete(caller, vector_store_id))


@router.post(STORE + "/search")
async def search_store(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, SearchRequest)
    service = services_of(request).vector_stores
    return json_response(await service.search(caller, vector_store_id, body))


# --- files in a store -----------------------------------------------------------------------


@router.post(STORE + "/files")
async def create_store_file(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, VectorStoreFileCreate)
    service = services_of(request).vector_store_files
    return json_response(await service.create(caller, vector_store_id, body))


@router.get(STORE + "/files")
async def list_store_files(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    query = _file_list_query(request)
    service = services_of(request).vector_store_files
    return json_response(await service.list(caller, vector_store_id, query))


@router.get(STORE + "/files/{file_id}")
async def get_store_file(vector_store_id: str, file_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    service = services_of(request).vector_store_files
    return json_response(
        await service.get(caller, vector_store_id, file_id), headers=_poll_headers(request)
    )


@router.post(STORE + "/files/{file_id}")
async def update_store_file(vector_store_id: str, file_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, VectorStoreFileUpdate)
    service = services_of(request).vector_store_files
    return json_response(await service.update(caller, vector_store_id, file_id, body))


@router.delete(STORE + "/files/{file_id}")
async def delete_store_file(vector_store_id: str, file_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    service = services_of(request).vector_store_files
    return json_response(await service.delete(caller, vector_store_id, file_id))


@router.get(STORE + "/files/{file_id}/content")
async def store_file_content(vector_store_id: str, file_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    service = services_of(request).vector_store_files
    return json_response(await service.content(caller, vector_store_id, file_id))


# --- file batches ---------------------------------------------------------------------------


@router.post(STORE + "/file_batches")
async def create_batch(vector_store_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, FileBatchCreate)
    service = services_of(request).file_batches
    return json_response(await service.create(caller, vector_store_id, body))


@router.get(STORE + "/file_batches/{batch_id}")
async def get_batch(vector_store_id: str, batch_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    service = services_of(request).file_batches
    return json_response(
        await service.get(caller, vector_store_id, batch_id), headers=_poll_headers(request)
    )


@router.post(STORE + "/file_batches/{batch_id}/cancel")
async def cancel_batch(vector_store_id: str, batch_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    service = services_of(request).file_batches
    return json_response(await service.cancel(caller, vector_store_id, batch_id))


@router.get(STORE + "/file_batches/{batch_id}/files")
async def list_batch_files(vector_store_id: str, batch_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    query = _file_list_query(request)
    service = services_of(request).file_batches
    return json_response(await service.list_files(caller, vector_store_id, batch_id, query))
