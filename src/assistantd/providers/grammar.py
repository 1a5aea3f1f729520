"""GBNF grammars (llama.cpp's constrained sampling) for the embedded model's JSON replies,
built from JSON schemas with llama-cpp-python's converter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assistantd.providers.tool_emulation import KEY_ORDER, ToolPlan

_ANY_OBJECT: dict[str, Any] = {"type": "object"}
# What the converter raises for schema features it cannot express.
_UNSUPPORTED = (
    ValueError,
    KeyError,
    TypeError,
    AssertionError,
    NotImplementedError,
    RecursionError,
)


def schema_gbnf(schema: dict[str, Any], key_order: Sequence[str] = ()) -> str:
    """The grammar of JSON documents valid against `schema`. Raises ValueError if the
    converter cannot express it."""
    from assistantd.providers.gbnf_from_schema import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(schema), list(key_order)))
    except _UNSUPPORTED as exc:
        raise ValueError(f"cannot build a grammar from this JSON schema: {exc!r}") from exc


def tool_reply_gbnf(plan: ToolPlan) -> str:
    """A message or one of the plan's calls, its arguments shaped by the tool's schema. A tool
    whose schema the converter cannot express gets any JSON object (validated afterwards)."""
    fallbacks = {}
    for name, schema in plan.tools.items():
        try:
            schema_gbnf(schema)
        except ValueError:
            fallbacks[name] = _ANY_OBJECT
    return schema_gbnf(plan.reply_schema(fallbacks), KEY_ORDER)


def response_format_gbnf(response_format: dict[str, Any] | None) -> str | None:
    """The grammar a `response_format` asks for: any JSON object for `json_object`, the given
    schema for `json_schema`; None for text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return schema_gbnf(_ANY_OBJECT)
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or _ANY_OBJECT
        try:
            return schema_gbnf(schema)
        except ValueError:
            return schema_gbnf(_ANY_OBJECT)
    return None
