"""/v1/files"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from assistantd.api.caller import plain_caller, services_of
from assistantd.api.multipart import read_multipart
from assistantd.api.request import read_query
from assistantd.api.responses import json_response
from assistantd.api.validation import invalid_request
from assistantd.errors import InvalidRequestError
from assistantd.wire.files import FileListQuery, FileUploadForm

router = APIRouter()


@router.post("/files")
async def create_file(request: Request) -> Response:
    caller = await plain_caller(request)
    files = services_of(request).files
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        files.check_declared_size(int(declared))
    form = await read_multipart(request, "file", files.open_upload)
    upload = form.sink
    try:
        if upload is None:
            raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
        if "purpose" not in form.fields:
            raise InvalidRequestError("Missing required parameter: 'purpose'.", param="purpose")
        try:
            fields = FileUploadForm.model_validate(form.fields)
        except ValidationError as exc:
            raise invalid_request(exc, form.fields) from exc
    except BaseException:
        if upload is not None:
            upload.abort()
        raise
    return json_response(await files.create(caller, upload, form.filename, fields))


@router.get("/files")
async def list_files(request: Request) -> Response:
    caller = await plain_caller(request)
    params: dict[str, Any] = read_query(request, allowed=("purpose",))
    try:
        query = FileListQuery.model_validate(params)
    except ValidationError as exc:
        raise invalid_request(exc, params) from exc
    return json_response(await services_of(request).files.list(caller, query))


@router.get("/files/{file_id}")
async def get_file(file_id: str, request: Request) -> Response:
    caller = await plain_caller(request)
    return json_response(await services_of(request).files.get(caller, file_id))


@router.delete("/files/{file_id}")
async def delete_file(file_id: str, request: Request) -> Response:
    caller = await plain_caller(request)
    return json_response(await services_of(request).files.delete(caller, file_id))


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> Response:
    caller = await plain_caller(request)
    content = await services_of(request).files.content(caller, file_id)
    quoted = urllib.parse.quote(content.filename)
    return StreamingResponse(
        content.chunks,
        media_type="application/octet-stream",
        headers={
            "content-length": str(content.size),
            "content-disposition": f"attachment; filename*=UTF-8''{quoted}",
        },
    )
