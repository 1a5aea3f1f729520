"""Read request bodies and query strings into wire models, with OpenAI-style 400s."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from assistantd.api.validation import NUL, invalid_request, nul_error, nul_location
from assistantd.errors import InvalidRequestError, RequestTooLargeError, not_found
from assistantd.wire.base import METADATA_MAX_KEY, METADATA_MAX_PAIRS, ListQuery

M = TypeVar("M", bound=BaseModel)

_LIST_PARAMS = frozenset(ListQuery.model_fields)
# A NUL in a cursor is an unknown cursor (the pagination query answers it, never the database).
_CURSOR_PARAMS = frozenset({"after", "before"})

# A message may carry a 20 MB data: URL image; nothing legitimate needs more in one JSON body.
MAX_JSON_BODY_BYTES = 32 * 1024 * 1024


def _too_large() -> RequestTooLargeError:
    return RequestTooLargeError(
        f"Request body too large: the limit for JSON bodies is {MAX_JSON_BODY_BYTES} bytes."
    )


async def _read_limited(request: Request) -> bytes:
    """The body, refused as soon as it is known to exceed the limit (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body against `model`. An empty body counts as `{}` (the SDK sends
    `Content-Length: 0` on body-less POSTs). A NUL character anywhere in it is a 400: SQLite
    would store it, PostgreSQL cannot, and both must answer alike."""
    raw = await _read_limited(request)
    if not raw.strip():
        raw = b"{}"
    # JSON can only carry a NUL as the escape (a raw one is invalid JSON); most bodies skip this.
    if b"\\u0000" in raw:
        _refuse_nul(raw)
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise invalid_request(exc, raw) from exc


def _refuse_nul(raw: bytes) -> None:
    """A 400 naming the first key or string of the body that holds a NUL character."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return  # not JSON at all: validation reports it
    found = nul_location(data)
    if found is not None:
        raise nul_error(*found)


def read_query(
    request: Request, allowed: Collection[str] = (), repeatable: Collection[str] = ()
) -> dict[str, str]:
    """Query parameters as a dict; unknown names, and repeated names other than `repeatable`
    ones (read those with `request.query_params.getlist`), are 400s."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if NUL in name or (NUL in value and name not in _CURSOR_PARAMS):
            raise nul_error(name if NUL not in name else None)
        if name in repeatable:
            continue
        if name not in _LIST_PARAMS and name not in allowed and not _is_metadata(name, allowed):
            raise InvalidRequestError(
                f"Unrecognized query parameter supplied: {name}",
                param=name,
                code="unknown_parameter",
            )
        if name in params:
            raise InvalidRequestError(
                f"Invalid '{name}': the parameter was given more than once.", param=name
            )
        params[name] = value
    return params


def list_query(params: dict[str, str]) -> ListQuery:
    """The cursor parameters out of `params` (numbers arrive as text, so lax parsing)."""
    values: dict[str, Any] = {key: params[key] for key in _LIST_PARAMS if key in params}
    try:
        return ListQuery.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc, values) from exc


def metadata_filter(params: dict[str, str]) -> dict[str, str]:
    """`metadata[key]=value` pairs of a list query."""
    pairs: dict[str, str] = {}
    for name, value in params.items():
        if name.startswith("metadata[") and name.endswith("]"):
            key = name[len("metadata[") : -1]
            if not key or len(key) > METADATA_MAX_KEY:
                raise InvalidRequestError(
                    f"Invalid '{name}': metadata keys are 1 to {METADATA_MAX_KEY} characters.",
                    param=name,
                )
            pairs[key] = value
    # An object has at most this many pairs, so more filters can match nothing; each one is a
    # condition of the query, and a thousand of them overflow SQLite's expression depth.
    if len(pairs) > METADATA_MAX_PAIRS:
        raise InvalidRequestError(
            f"Invalid 'metadata': too many filters. Expected at most {METADATA_MAX_PAIRS} "
            f"metadata[key]=value filters, but got {len(pairs)} instead.",
            param="metadata",
        )
    return pairs


# The stored object each path parameter names, in the OpenAI wording of its 404 (`file_id`
# depends on the route; a model name is no stored id and has its own 404).
_PATH_OBJECTS = {
    "assistant_id": "assistant",
    "thread_id": "thread",
    "message_id": "message",
    "run_id": "run",
    "step_id": "run step",
    "vector_store_id": "vector store",
    "batch_id": "file batch",
}


def refuse_nul_path_ids(path_params: Mapping[str, Any]) -> None:
    """A path id holding a NUL character names no object: the standard 404 for its kind (the
    first such id, in path order), so such a value never reaches a query (PostgreSQL refuses
    NUL in text while SQLite would merely find nothing)."""
    for name, value in path_params.items():
        if not isinstance(value, str) or NUL not in value:
            continue
        kind = _PATH_OBJECTS.get(name)
        if name == "file_id":
            kind = "vector store file" if "vector_store_id" in path_params else "file"
        if kind is not None:
            raise not_found(kind, value)


def _is_metadata(name: str, allowed: Collection[str]) -> bool:
    return "metadata[]" in allowed and name.startswith("metadata[") and name.endswith("]")
