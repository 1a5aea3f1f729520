"""GBNF grammars for the embedded model: tool replies and JSON response formats."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assistantd.providers.grammar import response_format_gbnf, schema_gbnf, tool_reply_gbnf
from assistantd.providers.tool_emulation import ToolPlan

ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "rush": {"type": "boolean"}},
    "required": ["order_id"],
}


def plan(allow_message: bool = True, **tools: dict[str, Any]) -> ToolPlan:
    return ToolPlan(tools=tools, descriptions={}, allow_message=allow_message)


def literals(grammar: str) -> set[str]:
    """The JSON string constants a grammar spells out, e.g. `"\\"message\\""` -> message."""
    return set(re.findall(r'"\\"([A-Za-z_]+)\\""', grammar))


def test_a_tool_reply_grammar_spells_out_kinds_names_and_argument_keys() -> None:
    grammar = tool_reply_gbnf(plan(get_order=ORDER, ping={"type": "object", "properties": {}}))
    assert grammar.startswith("root ::=") or "\nroot ::=" in grammar
    spelled = literals(grammar)
    assert {"message", "tool_call", "get_order", "ping"} <= spelled
    assert {"type", "content", "name", "arguments", "order_id", "rush"} <= spelled


def test_a_required_call_has_no_message_branch() -> None:
    spelled = literals(tool_reply_gbnf(plan(False, get_order=ORDER)))
    assert "message" not in spelled
    assert "content" not in spelled
    assert {"tool_call", "get_order", "order_id"} <= spelled


def test_the_kind_is_written_before_the_name_and_arguments() -> None:
    grammar = tool_reply_gbnf(plan(False, get_order=ORDER))
    (rule,) = [line for line in grammar.splitlines() if line.startswith("root ::=")]
    assert rule.index("type-kv") < rule.index("name-kv") < rule.index("arguments-kv")


def test_a_schema_the_converter_cannot_express_falls_back_to_any_object() -> None:
    broken = {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}
    with pytest.raises(ValueError, match="cannot build a grammar"):
        schema_gbnf(broken)
    grammar = tool_reply_gbnf(plan(odd=broken, get_order=ORDER))
    assert {"odd", "get_order", "order_id"} <= literals(grammar)


def test_response_formats() -> None:
    assert response_format_gbnf(None) is None
    assert response_format_gbnf({"type": "text"}) is None
    assert response_format_gbnf({"type": "json_object"})
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    grammar = response_format_gbnf(
        {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    )
    assert grammar is not None
    assert "answer" in literals(grammar)
