"""Read request bodies and query strings into wire models, with OpenAI-style 400s."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from assistantd.api.validation import invalid_request
from assistantd.errors import InvalidRequestError, RequestTooLargeError
from assistantd.wire.base import ListQuery

M = TypeVar("M", bound=BaseModel)

_LIST_PARAMS = frozenset(ListQuery.model_fields)

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
    `Content-Length: 0` on body-less POSTs)."""
    raw = await _read_limited(request)
    if not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise invalid_request(exc, raw) from exc


def read_query(
    request: Request, allowed: Collection[str] = (), repeatable: Collection[str] = ()
) -> dict[str, str]:
    """Query parameters as a dict; unknown names, and repeated names other than `repeatable`
    ones (read those with `request.query_params.getlist`), are 400s."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
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
            if not key or len(key) > 64:
                raise InvalidRequestError(
                    f"Invalid '{name}': metadata keys are 1 to 64 characters.", param=name
                )
            pairs[key] = value
    return pairs


def _is_metadata(name: str, allowed: Collection[str]) -> bool:
    return "metadata[]" in allowed and name.startswith("metadata[") and name.endswith("]")
