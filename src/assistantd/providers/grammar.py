"""GBNF grammars (llama.cpp's constrained sampling) for the embedded model's replies: JSON built
from JSON schemas with llama-cpp-python's converter, every string and array bounded so a call
always ends within the turn's tokens, and the prose of an answer from tool or search results."""

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

# Bounds of a call's arguments: a string at most this many characters (fewer when the turn's
# budget is small), an array at most this many items unless its schema says fewer.
STRING_CHARS = 200
ARRAY_ITEMS = 8
MIN_STRING_CHARS = 8
# Tokens of a call that are not its string values (keys, punctuation, the tool's name), and of
# each string's quotes and separator. A string is counted at one token per character, the
# worst case (digits and punctuation are single tokens), so the bounds hold for any text.
CALL_OVERHEAD_TOKENS = 64
STRING_OVERHEAD_TOKENS = 4

# An answer from search results: sentences of prose, each followed by the marker of a result.
ANSWER_SENTENCES = 2
SENTENCE_CHARS = 300
CHARS_PER_TOKEN = 3  # ordinary English prose is ~4; the bound leaves room for the markers


def schema_gbnf(schema: dict[str, Any], key_order: Sequence[str] = ()) -> str:
    """The grammar of JSON documents valid against `schema`. Raises ValueError if the
    converter cannot express it."""
    from assistantd.providers.gbnf_from_schema import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(schema), list(key_order)))
    except _UNSUPPORTED as exc:
        raise ValueError(f"cannot build a grammar from this JSON schema: {exc!r}") from exc


def bounded(schema: Any, chars: int = STRING_CHARS, items: int = ARRAY_ITEMS) -> Any:
    """A copy of `schema` in which every string has a `maxLength` of at most `chars` and every
    array a `maxItems` of at most `items` (a smaller bound of the schema's own is kept)."""
    if isinstance(schema, list):
        return [bounded(part, chars, items) for part in schema]
    if not isinstance(schema, dict):
        return schema
    kinds = schema.get("type")
    if isinstance(kinds, list):
        # The converter turns a type list into bare `{"type": t}` branches, dropping bounds.
        rest = {key: value for key, value in schema.items() if key != "type"}
        return {"anyOf": [bounded({**rest, "type": kind}, chars, items) for kind in kinds]}
    out = {key: _bounded_keyword(key, value, chars, items) for key, value in schema.items()}
    free_string = not any(key in schema for key in ("enum", "const", "pattern", "format"))
    if kinds == "string" and free_string:
        limit = min(int(schema.get("maxLength", chars)), chars)
        out["maxLength"] = max(limit, int(schema.get("minLength", 0)))
    if kinds == "array" and "items" in schema:
        limit = min(int(schema.get("maxItems", items)), items)
        out["maxItems"] = max(limit, int(schema.get("minItems", 0)))
    return out


def _bounded_keyword(key: str, value: Any, chars: int, items: int) -> Any:
    if key in ("properties", "$defs", "definitions", "patternProperties"):
        if isinstance(value, dict):
            return {name: bounded(part, chars, items) for name, part in value.items()}
        return value
    if key in ("items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf", "not"):
        return bounded(value, chars, items)
    return value


def string_slots(schema: Any) -> int:
    """How many strings a document valid against a bounded `schema` holds at most."""
    if isinstance(schema, list):
        return max((string_slots(part) for part in schema), default=0)
    if not isinstance(schema, dict):
        return 0
    if "anyOf" in schema or "oneOf" in schema:
        return string_slots(schema.get("anyOf") or schema.get("oneOf"))
    kinds = schema.get("type")
    if kinds == "string":
        return 1
    if kinds == "array":
        return int(schema.get("maxItems", 1)) * max(1, string_slots(schema.get("items")))
    properties = schema.get("properties")
    if isinstance(properties, dict):
        return sum(string_slots(part) for part in properties.values())
    return 0


def argument_chars(schema: dict[str, Any], max_tokens: int) -> int:
    """The longest string a call's arguments may hold: `STRING_CHARS`, less when all the
    schema's strings at full length would not fit the turn's `max_tokens`."""
    slots = string_slots(bounded(schema))
    if not slots:
        return STRING_CHARS
    room = max_tokens - CALL_OVERHEAD_TOKENS - STRING_OVERHEAD_TOKENS * slots
    return max(MIN_STRING_CHARS, min(STRING_CHARS, room // slots))


def tool_reply_gbnf(plan: ToolPlan, max_tokens: int = 512) -> str:
    """A message or one of the plan's calls, its arguments shaped by the tool's schema with
    every string and array bounded to fit `max_tokens`. A tool whose schema the converter
    cannot express gets any JSON object (validated afterwards)."""
    shaped = {}
    for name, schema in plan.tools.items():
        arguments = bounded(schema, argument_chars(schema, max_tokens))
        try:
            schema_gbnf(arguments)
        except ValueError:
            arguments = _ANY_OBJECT
        shaped[name] = arguments
    # The message's content is bounded by the token cap; any prefix of it can still close.
    return schema_gbnf(plan.reply_schema(shaped), KEY_ORDER)


def response_format_gbnf(
    response_format: dict[str, Any] | None, max_tokens: int = 512
) -> str | None:
    """The grammar a `response_format` asks for: any JSON object for `json_object`, the given
    schema for `json_schema` (its strings and arrays bounded); None for text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return schema_gbnf(_ANY_OBJECT)
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or _ANY_OBJECT
        try:
            return schema_gbnf(bounded(schema, argument_chars(schema, max_tokens)))
        except ValueError:
            return schema_gbnf(_ANY_OBJECT)
    return None


def answer_gbnf(markers: Sequence[str], max_tokens: int) -> str:
    """Prose of one to `ANSWER_SENTENCES` sentences that always ends within `max_tokens`; with
    `markers` (search results in the prompt) each sentence is followed by one of them, so a
    small model always cites. A sentence ends at `.`, `!` or `?` before a space or the end
    (so "12.5" stays inside one); it holds no newline or marker of its own, and starts with a
    capital, a digit or a letter of another script: no JSON, and no "contains ..." or "(1)"
    after a marker, which a small model that goes on would make the marker's subject."""
    chars = max(MIN_STRING_CHARS, (max_tokens - 16) * CHARS_PER_TOKEN)
    sentences = max(1, min(ANSWER_SENTENCES, chars // SENTENCE_CHARS))
    per_sentence = min(SENTENCE_CHARS, chars // sentences)
    unit = "sentence"
    rules = [
        f"sentence ::= start part{{0,{per_sentence - 2}}} [.!?]",
        r"start ::= [A-Z0-9] | [^\x00-\x7F【】]",
        r"part ::= [^\n.!?:【】] | [.!?]+ [^ \t\n.!?【】] | colon",
        # Not ": 1.", where a small model starts a list whose "1." would end the sentence.
        r'colon ::= ":" ([^ \n.!?:【】] | " " [^0-9 \n.!?:【】] | " " [0-9]+ [^0-9\n.!?:【】])',
    ]
    if markers:
        unit = "cited"
        alternatives = " | ".join(_literal(marker) for marker in dict.fromkeys(markers))
        rules += ['cited ::= sentence " " marker', f"marker ::= {alternatives}"]
    more = f' (" " {unit}){{0,{sentences - 1}}}' if sentences > 1 else ""
    return "\n".join([f"root ::= {unit}{more}", *rules])


def _literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
