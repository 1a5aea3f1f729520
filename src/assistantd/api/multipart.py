"""Streaming `multipart/form-data` reader for uploads: the file part goes chunk by chunk into a
sink (never whole in memory); the small text fields are collected with a size cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from assistantd.api.validation import NUL, nul_error
from assistantd.errors import InvalidRequestError

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32
# RFC 2046 allows 70 characters; the parser takes up to 256, which is plenty.
MAX_BOUNDARY_CHARS = 256


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...


S = TypeVar("S", bound=Sink)


@dataclass
class MultipartForm(Generic[S]):
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    sink: S | None = None


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


def _bad(message: str, param: str | None = None) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


async def read_multipart(
    request: Request, file_field: str, open_sink: Callable[[], S]
) -> MultipartForm[S]:
    """Parse the body; the part named `file_field` is streamed into a sink from `open_sink`.
    On any error the sink is aborted before the error propagates."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise _bad("Expected a multipart/form-data body with a 'file' part.")
    boundary = options[b"boundary"]
    if not 1 <= len(boundary) <= MAX_BOUNDARY_CHARS:
        raise _bad(
            f"Invalid multipart boundary: expected 1 to {MAX_BOUNDARY_CHARS} characters, "
            f"but got {len(boundary)}."
        )
    form: MultipartForm[S] = MultipartForm()
    state: dict[str, _Part] = {}
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        state["part"] = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        state["part"].headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        part = state["part"]
        _, disposition = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if part.name == file_field:
            if form.sink is not None:
                raise _bad(f"Only one '{file_field}' part is allowed.", param=file_field)
            part.is_file = True
            raw_name = disposition.get(b"filename")
            form.filename = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            if form.filename is not None and NUL in form.filename:
                raise nul_error(file_field)
            form.sink = open_sink()
        elif len(form.fields) >= MAX_FIELDS:
            raise _bad("Too many form fields.")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = state["part"]
        if part.is_file:
            assert form.sink is not None
            form.sink.write(data[start:end])
            return
        part.data.extend(data[start:end])
        if len(part.data) > MAX_FIELD_BYTES:
            raise _bad(f"Form field '{part.name}' is too long.", param=part.name)

    def on_part_end() -> None:
        part = state["part"]
        if part.is_file:
            return
        if part.name in form.fields:
            raise _bad(f"Form field '{part.name}' was given more than once.", param=part.name)
        value = part.data.decode("utf-8", "replace")
        if NUL in part.name or NUL in value:
            raise nul_error(part.name if NUL not in part.name else None)
        form.fields[part.name] = value

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        # The parser accepts a body that just stops; the closing boundary is what proves the
        # last part (maybe the file) arrived whole.
        if parser.state != MultipartState.END:
            raise _bad("Malformed multipart body: the closing boundary is missing.")
    except BaseException as exc:
        if form.sink is not None:
            form.sink.abort()
        if isinstance(exc, FormParserError):
            raise _bad(f"Malformed multipart body: {exc}") from exc
        raise
    return form
