"""Stream deltas: each model sends exactly the keys the engine's dict literals sent, in the same
order (unset optional fields absent, an explicit None sent as null), through every way a model
is dumped, and the SDK parses the result."""

from __future__ import annotations

import json
from typing import Any

import openai.types.beta.threads as sdk_threads
import openai.types.beta.threads.runs as sdk_runs
import orjson
import pytest
from openai._models import construct_type
from pydantic import BaseModel, ValidationError

from assistantd.wire.deltas import (
    CodeInterpreterDelta,
    CodeInterpreterOutputDelta,
    CodeInterpreterToolCallDelta,
    DeltaModel,
    FileSearchToolCallDelta,
    FunctionDelta,
    FunctionToolCallDelta,
    ImageFileDelta,
    ImageFileDeltaPart,
    MessageDelta,
    MessageDeltaBody,
    RunStepDelta,
    RunStepDeltaBody,
    TextDelta,
    TextDeltaPart,
    ToolCallDelta,
    ToolCallsDelta,
)


def assert_sends(model: BaseModel, expected: dict[str, Any]) -> None:
    """The bus path (`model_dump(mode="json")`, then orjson) and `model_dump_json` both give
    the literal's bytes: same keys, same order."""
    literal = orjson.dumps(expected)
    assert orjson.dumps(model.model_dump(mode="json")) == literal
    assert orjson.dumps(model.model_dump()) == literal
    assert model.model_dump_json().encode() == literal


def message_event(content: list[Any], role: bool = False) -> MessageDelta:
    body = MessageDeltaBody(role="assistant", content=content) if role else None
    return MessageDelta(id="msg_1", delta=body or MessageDeltaBody(content=content))


def message_literal(delta: dict[str, Any]) -> dict[str, Any]:
    # engine/executor.py `_publish_text` and `_open_message`
    return {"id": "msg_1", "object": "thread.message.delta", "delta": delta}


CITATION = {
    "index": 0,
    "type": "file_citation",
    "text": "【0:0†trees.txt】",
    "start_index": 9,
    "end_index": 24,
    "file_citation": {"file_id": "file-a"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TextDelta(value="Red", annotations=[]), {"value": "Red", "annotations": []}),
        (TextDelta(value="woods"), {"value": "woods"}),
        (TextDelta(annotations=[CITATION]), {"annotations": [CITATION]}),
        (TextDelta(), {}),
    ],
    ids=["first", "later", "late-annotations", "empty"],
)
def test_text_deltas(text: TextDelta, expected: dict[str, Any]) -> None:
    event = message_event([TextDeltaPart(index=1, text=text)])
    literal = message_literal({"content": [{"index": 1, "type": "text", "text": expected}]})
    assert_sends(event, literal)
    parsed = sdk_threads.MessageDeltaEvent.model_validate(event.model_dump(mode="json"))
    assert parsed.delta.content is not None
    part = parsed.delta.content[0]
    assert isinstance(part, sdk_threads.TextDeltaBlock)
    assert part.text is not None
    assert part.text.value == expected.get("value")


def test_image_parts_open_the_message() -> None:
    event = message_event(
        [
            ImageFileDeltaPart(index=i, image_file=ImageFileDelta(file_id=f, detail="auto"))
            for i, f in enumerate(["file-1", "file-2"])
        ],
        role=True,
    )
    parts = [
        {"index": i, "type": "image_file", "image_file": {"file_id": f, "detail": "auto"}}
        for i, f in enumerate(["file-1", "file-2"])
    ]
    assert_sends(event, message_literal({"role": "assistant", "content": parts}))
    parsed = sdk_threads.MessageDeltaEvent.model_validate(event.model_dump(mode="json"))
    assert parsed.delta.role == "assistant"
    assert parsed.delta.content is not None
    files = [
        part.image_file.file_id if part.image_file else None
        for part in parsed.delta.content
        if isinstance(part, sdk_threads.ImageFileDeltaBlock)
    ]
    assert files == ["file-1", "file-2"]


def step_event(item: ToolCallDelta) -> RunStepDelta:
    return RunStepDelta(
        id="step_1", delta=RunStepDeltaBody(step_details=ToolCallsDelta(tool_calls=[item]))
    )


def step_literal(item: dict[str, Any]) -> dict[str, Any]:
    # engine/executor.py `_on_tool_call` and `_log_publisher`, engine/engine_search.py
    return {
        "id": "step_1",
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [item]}},
    }


CASES: list[tuple[str, ToolCallDelta, dict[str, Any]]] = [
    (
        "function-announced",
        FunctionToolCallDelta(
            index=0,
            id="call_1",
            function=FunctionDelta(name="get_weather", arguments='{"ci', output=None),
        ),
        {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"ci', "output": None},
        },
    ),
    (
        "function-fragment",
        FunctionToolCallDelta(index=0, function=FunctionDelta(arguments='ty":"Paris"}')),
        {"index": 0, "type": "function", "function": {"arguments": 'ty":"Paris"}'}},
    ),
    (
        "file-search-announced",
        FileSearchToolCallDelta(index=1, id="call_2"),
        {"index": 1, "id": "call_2", "type": "file_search", "file_search": {}},
    ),
    (
        "code-announced",
        CodeInterpreterToolCallDelta(
            index=2, id="call_3", code_interpreter=CodeInterpreterDelta(input="", outputs=[])
        ),
        {
            "index": 2,
            "id": "call_3",
            "type": "code_interpreter",
            "code_interpreter": {"input": "", "outputs": []},
        },
    ),
    (
        "code-input",
        CodeInterpreterToolCallDelta(
            index=2, code_interpreter=CodeInterpreterDelta(input="print(")
        ),
        {"index": 2, "type": "code_interpreter", "code_interpreter": {"input": "print("}},
    ),
    (
        "code-first-logs",
        CodeInterpreterToolCallDelta(
            index=2,
            code_interpreter=CodeInterpreterDelta(
                outputs=[CodeInterpreterOutputDelta(index=0, type="logs", logs="1\n")]
            ),
        ),
        # the engine added "type" after "logs" to the dict it had built
        {
            "index": 2,
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": 0, "logs": "1\n", "type": "logs"}]},
        },
    ),
    (
        "code-later-logs",
        CodeInterpreterToolCallDelta(
            index=2,
            code_interpreter=CodeInterpreterDelta(
                outputs=[CodeInterpreterOutputDelta(index=0, logs="2\n")]
            ),
        ),
        {
            "index": 2,
            "type": "code_interpreter",
            "code_interpreter": {"outputs": [{"index": 0, "logs": "2\n"}]},
        },
    ),
]


@pytest.mark.parametrize(("item", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tool_call_deltas(item: ToolCallDelta, expected: dict[str, Any]) -> None:
    event = step_event(item)
    assert_sends(event, step_literal(expected))
    data = event.model_dump(mode="json")
    # How the SDK's stream reads an event (lenient: a later logs fragment has no `type`).
    parsed = construct_type(type_=sdk_runs.RunStepDeltaEvent, value=data)
    assert isinstance(parsed, sdk_runs.RunStepDeltaEvent)
    details = parsed.delta.step_details
    assert isinstance(details, sdk_runs.ToolCallDeltaObject)
    assert details.tool_calls
    assert details.tool_calls[0].index == expected["index"]
    assert details.tool_calls[0].type == expected["type"]
    outputs = expected.get("code_interpreter", {}).get("outputs", [])
    if all("type" in output for output in outputs):
        sdk_runs.RunStepDeltaEvent.model_validate(data)  # and strictly, where it can


def test_explicit_none_is_sent_and_unset_is_not() -> None:
    assert FunctionDelta().model_dump() == {}
    assert FunctionDelta(output=None).model_dump() == {"output": None}
    assert json.loads(FunctionDelta(name="f", output=None).model_dump_json()) == {
        "name": "f",
        "output": None,
    }
    # a field with a non-None default is always sent
    assert FileSearchToolCallDelta(index=0).model_dump() == {
        "index": 0,
        "type": "file_search",
        "file_search": {},
    }
    assert not FunctionDelta().name  # read back unset: UNSET, which is falsy


def test_an_optional_field_defaulting_to_none_is_refused() -> None:
    with pytest.raises(TypeError, match="optional"):

        class Wrong(DeltaModel):
            value: str | None = None


def test_unknown_keys_and_wrong_types_are_refused() -> None:
    with pytest.raises(ValidationError):
        FunctionDelta(nmae="f")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        TextDeltaPart.model_validate({"index": 0, "type": "image_file", "text": {}})
