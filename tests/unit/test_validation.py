"""Pydantic errors become OpenAI 400s naming the parameter the way the API does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistantd.api.validation import invalid_request, param_path
from assistantd.wire.assistants import AssistantCreate
from assistantd.wire.messages import MessageCreate


def error_for(
    model: type[AssistantCreate] | type[MessageCreate], raw: bytes
) -> tuple[str | None, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate_json(raw, strict=True)
    error = invalid_request(info.value, raw)
    return error.param, error.message


def test_param_path_skips_union_labels() -> None:
    data = {"content": [{"type": "image_file", "image_file": {}}]}
    loc = ("content", "list[tagged-union[...]]", 0, "image_file", "image_file", "file_id")
    assert param_path(loc, data) == "content[0].image_file.file_id"


def test_param_path_keeps_a_missing_last_field() -> None:
    assert param_path(("tools", 0, "function", "function"), {"tools": [{"type": "function"}]}) == (
        "tools[0].function"
    )


def test_param_path_drops_a_label_at_the_end() -> None:
    assert param_path(("response_format", "literal['auto']"), {"response_format": {}}) == (
        "response_format"
    )


def test_missing_and_unknown() -> None:
    assert error_for(AssistantCreate, b"{}") == ("model", "Missing required parameter: 'model'.")
    assert error_for(AssistantCreate, b'{"model": "m", "x": 1}') == (
        "x",
        "Unrecognized request argument supplied: x",
    )


def test_type_errors_say_what_was_expected() -> None:
    param, message = error_for(MessageCreate, b'{"role": "user", "content": 5}')
    assert param == "content"
    assert message == (
        "Invalid type for 'content': expected a string or an array, but got an integer instead."
    )


def test_the_most_specific_union_error_wins() -> None:
    param, message = error_for(MessageCreate, b'{"role": "user", "content": [{"type": "text"}]}')
    assert (param, message) == ("content[0].text", "Missing required parameter: 'content[0].text'.")


def test_metadata_limits_have_one_sentence() -> None:
    raw = (
        b'{"model": "m", "metadata": {'
        + b",".join(f'"k{i}": "v"'.encode() for i in range(17))
        + b"}}"
    )
    param, message = error_for(AssistantCreate, raw)
    assert param == "metadata"
    assert message == (
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
        "but got an object with 17 properties instead."
    )


def test_malformed_json() -> None:
    param, message = error_for(AssistantCreate, b"{oops")
    assert param is None
    assert message.startswith("We could not parse the JSON body of your request.")
