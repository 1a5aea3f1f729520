"""Pydantic errors become OpenAI 400s naming the parameter the way the API does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistantd.api.request import metadata_filter, refuse_nul_path_ids
from assistantd.api.validation import invalid_request, nul_error, nul_location, param_path
from assistantd.errors import InvalidRequestError, NotFoundError
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


def test_nul_location_names_the_first_string_in_document_order() -> None:
    data = {
        "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": "a\x00"}],
        "metadata": {"user": "\x00"},
    }
    assert nul_location(data) == ("content[1].text", False)
    assert nul_location({"metadata": {"user": "u\x00"}}) == ("metadata.user", False)
    assert nul_location({"metadata": {"us\x00er": "u"}}) == ("metadata", True)
    assert nul_location({"na\x00me": 1}) == ("", True)
    assert nul_location("\x00") == ("", False)
    assert nul_location({"a": ["x", 1, None, 2.5, True, {"b": "\\u0000"}]}) is None


def test_nul_location_survives_deep_nesting() -> None:
    deep: object = "\x00"
    for _ in range(50_000):
        deep = [deep]
    found = nul_location({"metadata": deep})
    assert found is not None
    assert found[0] == "metadata" + "[0]" * 50_000


def test_nul_error_wording() -> None:
    error = nul_error("metadata.user")
    assert (error.param, error.code, error.status_code) == ("metadata.user", "invalid_value", 400)
    assert error.message == (
        "Invalid 'metadata.user': the NUL character (\\u0000) is not allowed in strings."
    )
    assert nul_error(None, in_key=True).message == (
        "Invalid request: the NUL character (\\u0000) is not allowed in object keys."
    )


def test_metadata_filters_are_at_most_16() -> None:
    sixteen = {f"metadata[k{i}]": "v" for i in range(16)}
    assert metadata_filter({**sixteen, "limit": "3"}) == {f"k{i}": "v" for i in range(16)}
    with pytest.raises(InvalidRequestError) as info:
        metadata_filter({**sixteen, "metadata[k16]": "v"})
    assert info.value.param == "metadata"
    assert "Expected at most 16 metadata[key]=value filters, but got 17 instead." in (
        info.value.message
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"thread_id": "thread_\x00"}, "No thread found with id 'thread_\x00'."),
        ({"thread_id": "t", "message_id": "msg_\x00"}, "No message found with id 'msg_\x00'."),
        ({"thread_id": "\x00", "run_id": "\x00"}, "No thread found with id '\x00'."),
        ({"file_id": "file-\x00"}, "No file found with id 'file-\x00'."),
        (
            {"vector_store_id": "vs", "file_id": "\x00"},
            "No vector store file found with id '\x00'.",
        ),
        ({"vector_store_id": "vs", "batch_id": "\x00"}, "No file batch found with id '\x00'."),
    ],
)
def test_a_nul_path_id_is_the_standard_not_found(params: dict[str, str], message: str) -> None:
    with pytest.raises(NotFoundError) as info:
        refuse_nul_path_ids(params)
    assert info.value.message == message
    assert info.value.status_code == 404


def test_clean_path_ids_pass() -> None:
    refuse_nul_path_ids({"thread_id": "thread_abc", "message_id": "msg_\\x00"})


def test_a_model_name_is_not_a_stored_id() -> None:
    refuse_nul_path_ids({"model_id": "gpt\x00"})  # the model catalogue answers its own 404
