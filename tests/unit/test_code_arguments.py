"""Decoding the code of a code_interpreter call from streamed JSON arguments."""

from __future__ import annotations

import json

import pytest

from assistantd.engine.code_arguments import CodeFromArguments, code_of

CODE = 'import pandas as pd\nprint("é \\"quoted\\"\ttab", 1/3)  # 😀 done'


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 1000])
def test_fragments_of_any_size_decode_to_the_code(size: int) -> None:
    arguments = json.dumps({"code": CODE})  # escapes non-ASCII as \\uXXXX, emoji as a pair
    decoder = CodeFromArguments()
    pieces = [decoder.feed(arguments[i : i + size]) for i in range(0, len(arguments), size)]
    assert "".join(pieces) == CODE
    assert decoder.done


def test_nothing_before_the_code_key_and_nothing_after_the_string() -> None:
    decoder = CodeFromArguments()
    assert decoder.feed('{"lang": "py", ') == ""
    assert decoder.feed('"code": "1+') == "1+"
    assert decoder.feed('1", "x": "ignored"}') == "1"
    assert decoder.done


def test_code_of_complete_arguments() -> None:
    assert code_of(json.dumps({"code": CODE})) == CODE
    assert code_of("print(1)") == "print(1)"  # bare code, not JSON
    assert code_of('"print(2)"') == "print(2)"
    assert code_of('{"other": 1}') == '{"other": 1}'
