"""Translate pydantic validation errors into OpenAI-style 400s that name the offending parameter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from assistantd.errors import InvalidRequestError

MALFORMED_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
    "was not valid JSON. If you have trouble figuring out how to fix this, please contact us.)"
)

_JSON_NAMES = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "dict": "an object",
    "model": "an object",
    "model_attributes": "an object",
    "list": "an array",
    "none": "null",
}


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


_FIELD_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Labels pydantic gives the members of a union of plain types (`str | float | ...`).
_TYPE_LABELS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _mismatch(error: ErrorDetails) -> bool:
    """An error that only says "this union member does not take this kind of value"."""
    kind = error["type"]
    return kind.endswith("_type") or (
        kind == "literal_error" and not isinstance(error.get("input"), str)
    )


def param_path(loc: Sequence[int | str], data: Any) -> str:
    """Dotted path of an error location, skipping pydantic's union-member labels.

    A label is a location element that is not a key of the input at that point (for example
    `list[...]` or a discriminator tag); the input itself tells real keys from labels.
    """
    parts: list[str] = []
    current = data
    for position, element in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(element, int) and isinstance(current, list):
            parts.append(f"[{element}]")
            current = current[element] if element < len(current) else None
        elif isinstance(element, str) and isinstance(current, dict) and element in current:
            parts.append(f".{element}" if parts else element)
            current = current[element]
        elif isinstance(element, str) and last and isinstance(current, dict):
            if not _FIELD_NAME.match(element) or element in _TYPE_LABELS:
                break  # a union-member label such as "literal['auto']" or "str"
            parts.append(f".{element}" if parts else element)
            current = None
    return "".join(parts)


def _message(error: ErrorDetails, param: str, siblings: list[ErrorDetails]) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == "missing":
        return f"Missing required parameter: '{param}'."
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}"
    if kind.endswith("_type") and kind[: -len("_type")] in _JSON_NAMES:
        expected = sorted(
            {
                _JSON_NAMES.get(other["type"][: -len("_type")], "another type")
                for other in siblings
                if other["type"].endswith("_type")
            }
        )
        wanted = " or ".join(expected) if len(expected) <= 2 else "one of " + ", ".join(expected)
        return f"Invalid type for '{param}': expected {wanted}, but got {json_kind(value)} instead."
    if kind in ("string_too_long", "too_long", "string_too_short", "too_short"):
        noun, article = ("string", "a") if kind.startswith("string") else ("array", "an")
        extreme, length_limit = (
            ("maximum", ctx.get("max_length"))
            if kind.endswith("long")
            else ("minimum", ctx.get("min_length"))
        )
        size = len(value) if hasattr(value, "__len__") else "?"
        return (
            f"Invalid '{param}': {noun} too {kind.rsplit('_', 1)[1]}. Expected {article} {noun} "
            f"with {extreme} length {length_limit}, but got {article} {noun} with length {size} "
            "instead."
        )
    if kind in ("greater_than_equal", "greater_than"):
        sign = ">=" if kind == "greater_than_equal" else ">"
        bound = ctx.get("ge", ctx.get("gt"))
        return (
            f"Invalid '{param}': number below minimum value. Expected a value {sign} {bound}, "
            f"but got {value} instead."
        )
    if kind in ("less_than_equal", "less_than"):
        sign = "<=" if kind == "less_than_equal" else "<"
        bound = ctx.get("le", ctx.get("lt"))
        return (
            f"Invalid '{param}': number above maximum value. Expected a value {sign} {bound}, "
            f"but got {value} instead."
        )
    if kind in ("literal_error", "enum"):
        return f"Invalid value: '{value}'. Supported values are: {ctx.get('expected')}."
    if kind == "union_tag_invalid":
        return (
            f"Invalid value: '{ctx.get('tag')}'. Supported values are: {ctx.get('expected_tags')}."
        )
    if kind == "union_tag_not_found":
        return f"Missing required parameter: '{param}.type'."
    if kind == "string_pattern_mismatch":
        return (
            f"Invalid '{param}': string does not match pattern. Expected a string that matches "
            f"the pattern '{ctx.get('pattern')}'."
        )
    if kind == "value_error":
        return f"Invalid '{param}': {ctx.get('error', error['msg'])}."
    return f"Invalid '{param}': {error['msg'].rstrip('.')}."


MISSING_TYPE = "Missing required parameter: 'type'."

NUL = "\x00"


def nul_location(data: Any) -> tuple[str, bool] | None:
    """Where the first NUL character of a parsed JSON document is, in document order: the
    parameter path as the API names it, and whether it is in an object key (then the path is
    the object's). Iterative, so a deeply nested document cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return path, False
        elif isinstance(value, dict):
            if any(NUL in key for key in value):
                return path, True
            children = [(f"{path}.{key}" if path else key, item) for key, item in value.items()]
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{i}]", item) for i, item in enumerate(value)]))
    return None


def nul_error(param: str | None, in_key: bool = False) -> InvalidRequestError:
    """The 400 for a NUL character: it cannot be stored by every database, so it is refused."""
    where = f"Invalid '{param}'" if param else "Invalid request"
    what = "object keys" if in_key else "strings"
    return InvalidRequestError(
        f"{where}: the NUL character (\\u0000) is not allowed in {what}.",
        param=param or None,
        code="invalid_value",
    )


def invalid_request(
    exc: ValidationError, raw: bytes | dict[str, Any] | None
) -> InvalidRequestError:
    """The first validation error as a 400; `raw` is the input, used to resolve the path."""
    errors = exc.errors(include_url=False)
    # A union reports one error per member; the most specific one is the one to show: not a
    # mere "wrong type" if there is anything else, and the deepest of the rest.
    first = min(errors, key=lambda e: (_mismatch(e), -len(e["loc"])))
    if first["type"] in ("json_invalid", "json_type"):
        return InvalidRequestError(MALFORMED_JSON, code="invalid_json")
    data: Any = raw
    if isinstance(raw, bytes):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
    param = param_path(first["loc"], data)
    siblings = [e for e in errors if param_path(e["loc"], data) == param]
    if first["type"] == "union_tag_not_found":
        message = f"Missing required parameter: '{param}.type'." if param else MISSING_TYPE
        return InvalidRequestError(
            message, param=f"{param}.type" if param else "type", code="missing_required_parameter"
        )
    if first["type"] == "union_tag_invalid":
        param = f"{param}.type" if param else "type"
    if first["type"] == "model_type" and not first["loc"]:
        return InvalidRequestError(
            f"Invalid request body: expected a JSON object, but got {json_kind(data)} instead.",
            code="invalid_type",
        )
    return InvalidRequestError(
        _message(first, param, siblings), param=param or None, code=_code(first["type"])
    )


def _code(kind: str) -> str:
    if kind == "missing":
        return "missing_required_parameter"
    if kind == "extra_forbidden":
        return "unknown_parameter"
    if kind.endswith("_type"):
        return "invalid_type"
    return "invalid_value"
