"""GBNF grammars for the embedded model: tool replies and JSON response formats, their bounds,
and the prose of an answer from results."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from assistantd.engine.tools import file_search
from assistantd.providers.grammar import (
    ARRAY_ITEMS,
    STRING_CHARS,
    answer_gbnf,
    argument_chars,
    bounded,
    response_format_gbnf,
    schema_gbnf,
    string_slots,
    tool_reply_gbnf,
)
from assistantd.providers.llama_model import Generation, LlamaModel, Sampling, load_model
from assistantd.providers.model_file import packaged_gguf
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


# --- bounds: every call can end within the turn's tokens --------------------------------------

# The file_search tool's own schema, as the engine offers it.
SEARCH: dict[str, Any] = file_search.FUNCTION["function"]["parameters"]  # type: ignore[index]


@functools.cache
def _model() -> LlamaModel:
    """The packaged GGUF on the default runtime, loaded once for the grammar checks."""
    return load_model(packaged_gguf(), n_ctx=512, n_threads=1)


def compiles(grammar: str) -> None:
    """llama.cpp parses `grammar` (GrammarError otherwise) and samples one token under it."""
    model = _model()
    tokens = model.chat_tokens([{"role": "user", "content": "Go."}])
    once = Sampling(temperature=0.0, top_p=1.0, max_tokens=1)
    list(model.generate(tokens, once, grammar, Generation(), lambda: False))


def repetitions(grammar: str, rule_suffix: str) -> int:
    """How many optional `char`s (or items) the converter spelled out in the rule ending with
    `rule_suffix`: its bounded repetition nests one `(... )?` per extra occurrence."""
    (line,) = [line for line in grammar.splitlines() if line.split(" ::=")[0].endswith(rule_suffix)]
    return line.count(")?")


def test_bounded_adds_length_and_item_limits_everywhere() -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "short": {"type": "string", "maxLength": 5},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
            "note": {"type": ["string", "null"]},
            "nested": {"type": "object", "properties": {"x": {"type": "string"}}},
        },
    }
    out = bounded(schema, chars=40, items=3)
    props = out["properties"]
    assert props["city"] == {"type": "string", "maxLength": 40}
    assert props["short"]["maxLength"] == 5, "a tighter bound of the schema's own is kept"
    assert "maxLength" not in props["unit"], "an enum is bounded already"
    assert props["tags"]["maxItems"] == 3
    assert props["tags"]["items"]["maxLength"] == 40
    assert props["note"] == {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "null"}]}, (
        "a type list becomes branches that keep the bound"
    )
    assert props["nested"]["properties"]["x"]["maxLength"] == 40
    assert "maxLength" not in schema["properties"]["city"], "the input is not modified"


def test_argument_strings_shrink_to_fit_the_token_budget() -> None:
    assert string_slots(SEARCH) == 5
    assert argument_chars(SEARCH, 4096) == STRING_CHARS
    small = argument_chars(SEARCH, 256)
    assert small == (256 - 64 - 4 * 5) // 5
    # Worst case: every character a token, plus the call's own overhead, fits the budget.
    assert 5 * small + 64 + 4 * 5 <= 256
    assert argument_chars(ORDER, 512) == STRING_CHARS
    assert argument_chars(SEARCH, 10) == 8, "never below a usable minimum"


def test_a_tool_reply_grammar_bounds_queries_and_strings() -> None:
    grammar = tool_reply_gbnf(plan(file_search=SEARCH, get_order=ORDER), max_tokens=256)
    compiles(grammar)
    chars = argument_chars(SEARCH, 256)
    # A query is 1 to `chars` characters (one required, the rest optional); at most 5 items.
    assert repetitions(grammar, "queries-item") == chars - 1
    assert repetitions(grammar, "queries") == 5 - 1
    assert repetitions(grammar, "order-id") == argument_chars(ORDER, 256) == 256 - 64 - 4
    assert "char*" not in grammar.split("\nstring ::=")[0], "only the message content is free"
    # The message's content is a free string: the token cap bounds it and it can always close.
    assert '"\\"" char* "\\"" space' in grammar


def test_a_json_schema_response_format_is_bounded() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "integer"}}},
    }
    grammar = response_format_gbnf(
        {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    )
    assert grammar is not None
    compiles(grammar)
    assert repetitions(grammar, "tags") == ARRAY_ITEMS


def test_an_answer_grammar_cites_a_marker_after_every_sentence() -> None:
    markers = ["【0:0†lighthouse.txt】", '【0:1†odd "name"\\x.txt】']
    grammar = answer_gbnf(markers, max_tokens=512)
    compiles(grammar)
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert rules["root"] == 'cited (" " cited){0,1}'
    assert rules["cited"] == 'sentence " " marker'
    assert rules["marker"] == '"【0:0†lighthouse.txt】" | "【0:1†odd \\"name\\"\\\\x.txt】"'
    assert rules["sentence"] == "start part{0,298} [.!?]"
    assert rules["colon"] == (
        r'":" ([^ \n.!?:【】] | " " [^0-9 \n.!?:【】] | " " [0-9]+ [^0-9\n.!?:【】])'
    ), 'no ": 1." list'
    # A small budget: one shorter sentence, still ending before the cap.
    small = dict(line.split(" ::= ", 1) for line in answer_gbnf(markers, 48).splitlines())
    assert small["root"] == "cited"
    assert small["sentence"] == f"start part{{0,{(48 - 16) * 3 - 2}}} [.!?]"
    compiles(answer_gbnf(markers, 48))


def test_an_answer_grammar_without_markers_is_plain_sentences() -> None:
    grammar = answer_gbnf([], max_tokens=512)
    compiles(grammar)
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert rules["root"] == 'sentence (" " sentence){0,1}'
    assert "marker" not in rules
    assert rules["start"] == r"[A-Z0-9] | [^\x00-\x7F【】]", "no JSON, no marker of its own"
