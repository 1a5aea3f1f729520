"""The vendored JSON-schema-to-GBNF converter writes what llama-cpp-python's own writes, so the
embedded model's grammars did not change when llama-cpp-python stopped being a dependency."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from assistantd.providers.gbnf_from_schema import json_schema_to_gbnf
from assistantd.providers.tool_emulation import KEY_ORDER, ToolPlan

ORDER = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^[0-9]{2,8}$"},
        "rush": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
        "note": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]},
        "kind": {"enum": ["a", "b"]},
    },
    "required": ["order_id"],
    "additionalProperties": False,
}
SCHEMAS: list[tuple[dict[str, Any], list[str]]] = [
    ({"type": "object"}, []),
    (ORDER, []),
    (
        ToolPlan(tools={"get": ORDER}, descriptions={}, allow_message=True).reply_schema({}),
        list(KEY_ORDER),
    ),
]


@pytest.mark.parametrize(("schema", "order"), SCHEMAS)
def test_the_grammar_is_the_one_llama_cpp_python_writes(
    schema: dict[str, Any], order: list[str]
) -> None:
    upstream = pytest.importorskip("llama_cpp.llama_grammar")
    ours = json_schema_to_gbnf(json.dumps(schema), list(order))
    assert ours == upstream.json_schema_to_gbnf(json.dumps(schema), list(order))
    assert "root ::=" in ours


def test_grammars_are_built_without_llama_cpp_python() -> None:
    code = (
        "import sys\n"
        "sys.modules['llama_cpp'] = None  # any import of it fails\n"
        "from assistantd.providers.grammar import tool_reply_gbnf\n"
        "from assistantd.providers.tool_emulation import ToolPlan\n"
        "plan = ToolPlan(tools={'get': {'type': 'object'}}, descriptions={}, allow_message=True)\n"
        "print(tool_reply_gbnf(plan).count('::='))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 5
