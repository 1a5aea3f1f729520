"""Run steps, their tool calls and a run's required_action: the typed models send exactly the
JSON the engine's dict literals sent (same keys, same order), stored items keep their private
keys while the wire view drops them, and the SDK and the published schema accept the result."""

from __future__ import annotations

import json
from typing import Any

import openai.types.beta.threads as sdk_threads
import openai.types.beta.threads.runs as sdk_runs
import pytest
from pydantic import ValidationError

from assistantd.wire.run_actions import (
    RequiredAction,
    RequiredFunction,
    RequiredToolCall,
    SubmitToolOutputsAction,
)
from assistantd.wire.run_steps import (
    FILE_SEARCH_CONTENT,
    CodeInterpreter,
    CodeInterpreterImage,
    CodeInterpreterLogs,
    CodeInterpreterToolCall,
    FileSearch,
    FileSearchRankingOptions,
    FileSearchResult,
    FileSearchResultContent,
    FileSearchToolCall,
    FunctionCall,
    FunctionToolCall,
    ImageRef,
    MessageCreation,
    MessageCreationDetails,
    ToolCallsDetails,
    Usage,
    details_from_stored,
    step_from_row,
    stored_tool_call,
    tool_call_from_stored,
    usage_from_row,
)
from assistantd.wire.runs import IncompleteDetails, run_from_row
from tests.support.openapi import assert_all_properties_present, assert_matches_schema


def dumped(value: Any) -> str:
    """JSON as pydantic writes it (compact, non-ASCII as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def same_bytes(model_json: str, expected: Any) -> None:
    """Equal values and equal key order: the bytes a client reads."""
    assert model_json == dumped(expected)


# The engine's literals (engine/executor.py, engine/file_search.py and
# engine/code_interpreter.py `_item`), as they are stored.
FUNCTION_ITEM: dict[str, Any] = {
    "id": "call_f",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}', "output": None},
}
SEARCH_ITEM: dict[str, Any] = {
    "id": "call_s",
    "type": "file_search",
    "file_search": {
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
        "results": [
            {
                "file_id": "file-a",
                "file_name": "trees.txt",
                "score": 0.731201,
                "content": [{"type": "text", "text": "Redwoods are tall. «é»"}],
            },
            {
                "file_id": "file-b",
                "file_name": "pasta.txt",
                "score": 0.5,
                "content": [{"type": "text", "text": "Pasta is not."}],
            },
        ],
    },
    "_model": {"name": "file_search", "arguments": '{"queries":["trees"]}', "output": "..."},
}
CODE_ITEM: dict[str, Any] = {
    "id": "call_c",
    "type": "code_interpreter",
    "code_interpreter": {
        "input": "print(1)",
        "outputs": [
            {"type": "logs", "logs": "1\n"},
            {"type": "image", "image": {"file_id": "file-png"}},
        ],
    },
    "_model": {"name": "code_interpreter", "arguments": '{"code":"print(1)"}', "output": "1"},
    "_files": {"/mnt/data/out.csv": "file-csv"},
    "_images": ["file-png"],
}


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}


def without_content(item: dict[str, Any]) -> dict[str, Any]:
    search = item["file_search"]
    results = [{k: v for k, v in r.items() if k != "content"} for r in search["results"]]
    return {**public(item), "file_search": {**search, "results": results}}


def search_call() -> FileSearchToolCall:
    return FileSearchToolCall(
        id="call_s",
        file_search=FileSearch(
            ranking_options=FileSearchRankingOptions(
                ranker="default_2024_08_21", score_threshold=0.0
            ),
            results=[
                FileSearchResult(
                    file_id="file-a",
                    file_name="trees.txt",
                    score=0.731201,
                    content=[FileSearchResultContent(text="Redwoods are tall. «é»")],
                ),
                FileSearchResult(
                    file_id="file-b",
                    file_name="pasta.txt",
                    score=0.5,
                    content=[FileSearchResultContent(text="Pasta is not.")],
                ),
            ],
        ),
    )


def code_call() -> CodeInterpreterToolCall:
    return CodeInterpreterToolCall(
        id="call_c",
        code_interpreter=CodeInterpreter(
            input="print(1)",
            outputs=[
                CodeInterpreterLogs(logs="1\n"),
                CodeInterpreterImage(image=ImageRef(file_id="file-png")),
            ],
        ),
    )


def test_models_built_by_the_engine_store_its_literals() -> None:
    function = FunctionToolCall(
        id="call_f",
        function=FunctionCall(name="get_weather", arguments='{"city":"Paris"}', output=None),
    )
    same_bytes(dumped(stored_tool_call(function)), FUNCTION_ITEM)
    stored_search = stored_tool_call(search_call(), model=SEARCH_ITEM["_model"])
    assert list(stored_search) == ["id", "type", "file_search", "_model"]
    same_bytes(dumped(stored_search), SEARCH_ITEM)
    stored_code = stored_tool_call(
        code_call(),
        model=CODE_ITEM["_model"],
        files=CODE_ITEM["_files"],
        images=CODE_ITEM["_images"],
    )
    same_bytes(dumped(stored_code), CODE_ITEM)


def test_message_creation_details() -> None:
    details = MessageCreationDetails(message_creation=MessageCreation(message_id="msg_1"))
    same_bytes(
        details.model_dump_json(),
        {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
    )


@pytest.mark.parametrize("item", [FUNCTION_ITEM, SEARCH_ITEM, CODE_ITEM], ids=lambda i: i["type"])
def test_stored_to_wire_drops_private_keys(item: dict[str, Any]) -> None:
    call = tool_call_from_stored(item)
    same_bytes(call.model_dump_json(), public(item))
    # and back: the stored form is the wire JSON plus the private keys
    private = {key[1:]: value for key, value in item.items() if key.startswith("_")}
    assert stored_tool_call(call, **private) == item


def test_search_results_lose_their_text_unless_asked() -> None:
    shown = tool_call_from_stored(SEARCH_ITEM, with_content=False)
    dumped = shown.model_dump(mode="json")
    assert all("content" not in result for result in dumped["file_search"]["results"])
    same_bytes(shown.model_dump_json(), without_content(SEARCH_ITEM))
    assert SEARCH_ITEM["file_search"]["results"][0]["content"]  # the stored item is untouched
    # a result built without content has no key either (absent, not null)
    bare = FileSearchResult(file_id="f", file_name="n", score=1.0)
    same_bytes(bare.model_dump_json(), {"file_id": "f", "file_name": "n", "score": 1.0})


def test_unknown_or_malformed_stored_items_are_refused() -> None:
    with pytest.raises(ValidationError):
        tool_call_from_stored({"id": "x", "type": "retrieval", "retrieval": {}})
    with pytest.raises(ValidationError):
        tool_call_from_stored({"id": "x", "type": "function", "function": {"name": "f"}})
    with pytest.raises(ValidationError):  # an unknown wire key is an error, not dropped
        tool_call_from_stored({**FUNCTION_ITEM, "extra": 1})


def step_row(**values: Any) -> dict[str, Any]:
    """A run_steps row as the store returns it (engine/turn.py `step_row`, then updates)."""
    row: dict[str, Any] = {
        "id": "step_1",
        "project_id": "proj_1",
        "run_id": "run_1",
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "created_at": 1700000000,
        "type": "message_creation",
        "status": "completed",
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
        "last_error": None,
        "metadata": {},
        "usage": {"prompt_tokens": 12, "completion_tokens": 5},
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": 1700000003,
    }
    row.update(values)
    return row


def wire_step(**values: Any) -> dict[str, Any]:
    """The JSON `step_from_row` sent before the models were typed, for `step_row(**values)`."""
    body: dict[str, Any] = {
        "id": "step_1",
        "object": "thread.run.step",
        "created_at": 1700000000,
        "assistant_id": "asst_1",
        "thread_id": "thread_1",
        "run_id": "run_1",
        "type": "message_creation",
        "status": "completed",
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_1"}},
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": 1700000003,
        "metadata": {},
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    body.update(values)
    return body


def check_sdk_and_schema(body: dict[str, Any]) -> sdk_runs.RunStep:
    assert_matches_schema(body, "RunStepObject")
    assert_all_properties_present(body, "RunStepObject")
    return sdk_runs.RunStep.model_validate(body)


def test_message_creation_step() -> None:
    step = step_from_row(step_row())
    same_bytes(step.model_dump_json(), wire_step())
    assert step.model_dump(mode="json") == wire_step()
    parsed = check_sdk_and_schema(step.model_dump(mode="json"))
    assert isinstance(parsed.step_details, sdk_runs.MessageCreationStepDetails)
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 17


def test_usage_is_null_while_in_progress() -> None:
    step = step_from_row(step_row(status="in_progress", completed_at=None))
    assert step.usage is None
    same_bytes(
        step.model_dump_json(), wire_step(status="in_progress", completed_at=None, usage=None)
    )


def test_failed_step_keeps_its_error() -> None:
    error = {"code": "server_error", "message": "The server had an internal error."}
    row = step_row(status="failed", failed_at=5, completed_at=None, last_error=error, usage=None)
    body = wire_step(status="failed", failed_at=5, completed_at=None, last_error=error, usage=None)
    same_bytes(step_from_row(row).model_dump_json(), body)
    check_sdk_and_schema(body)


def tool_row() -> dict[str, Any]:
    details = {"type": "tool_calls", "tool_calls": [FUNCTION_ITEM, SEARCH_ITEM, CODE_ITEM]}
    return step_row(type="tool_calls", step_details=details)


def test_tool_calls_step_without_and_with_content() -> None:
    plain = step_from_row(tool_row())
    calls = [FUNCTION_ITEM, without_content(SEARCH_ITEM), public(CODE_ITEM)]
    details = {"type": "tool_calls", "tool_calls": calls}
    same_bytes(plain.model_dump_json(), wire_step(type="tool_calls", step_details=details))
    parsed = check_sdk_and_schema(plain.model_dump(mode="json"))
    assert isinstance(parsed.step_details, sdk_runs.ToolCallsStepDetails)
    search = parsed.step_details.tool_calls[1]
    assert isinstance(search, sdk_runs.FileSearchToolCall)
    assert search.file_search.results is not None
    assert [r.content for r in search.file_search.results] == [None, None]

    full = step_from_row(tool_row(), [FILE_SEARCH_CONTENT])
    calls[1] = public(SEARCH_ITEM)
    same_bytes(full.model_dump_json(), wire_step(type="tool_calls", step_details=details))
    parsed = check_sdk_and_schema(full.model_dump(mode="json"))
    assert isinstance(parsed.step_details, sdk_runs.ToolCallsStepDetails)
    code = parsed.step_details.tool_calls[2]
    assert isinstance(code, sdk_runs.CodeInterpreterToolCall)
    assert [o.type for o in code.code_interpreter.outputs] == ["logs", "image"]


def test_an_open_tool_step_has_no_calls_yet() -> None:
    details = {"type": "tool_calls", "tool_calls": []}
    assert details_from_stored(details) == ToolCallsDetails(tool_calls=[])
    row = step_row(type="tool_calls", step_details=details, status="in_progress")
    same_bytes(
        step_from_row(row).model_dump_json(),
        wire_step(type="tool_calls", step_details=details, status="in_progress", usage=None),
    )


def test_usage_from_row() -> None:
    assert usage_from_row(None) is None
    assert usage_from_row({"prompt_tokens": 3, "completion_tokens": 4}) == Usage(
        prompt_tokens=3, completion_tokens=4, total_tokens=7
    )
    assert usage_from_row({}) == Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)


# --- the run's typed fields ---------------------------------------------------------------

REQUIRED = {
    "type": "submit_tool_outputs",
    "submit_tool_outputs": {
        "tool_calls": [
            {
                "id": "call_f",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ]
    },
}


def run_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "run_1",
        "created_at": 1700000000,
        "thread_id": "thread_1",
        "assistant_id": "asst_1",
        "status": "requires_action",
        "required_action": REQUIRED,
        "last_error": None,
        "expires_at": 1700000600,
        "started_at": 1700000001,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
        "metadata": {},
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
    }
    row.update(values)
    return row


def wire_run(row: dict[str, Any], **values: Any) -> dict[str, Any]:
    keys = ["id", "object", *list(run_row())[1:]]
    body = {**row, "object": "thread.run", **values}
    return {key: body[key] for key in keys}


def test_required_action_built_and_read() -> None:
    built = RequiredAction(
        submit_tool_outputs=SubmitToolOutputsAction(
            tool_calls=[
                RequiredToolCall(
                    id="call_f",
                    function=RequiredFunction(name="get_weather", arguments='{"city":"Paris"}'),
                )
            ]
        )
    )
    same_bytes(built.model_dump_json(), REQUIRED)
    run = run_from_row(run_row(required_action=built.model_dump(mode="json")))
    assert run.required_action == built
    body = json.loads(run.model_dump_json())
    same_bytes(run.model_dump_json(), wire_run(run_row(), usage=None))
    assert_matches_schema(body, "RunObject")
    parsed = sdk_threads.Run.model_validate(body)
    assert parsed.required_action is not None
    assert parsed.required_action.submit_tool_outputs.tool_calls[0].id == "call_f"


def test_ended_runs_show_error_details_and_usage() -> None:
    error = {"code": "invalid_prompt", "message": "The conversation does not fit."}
    failed = run_row(status="failed", required_action=None, failed_at=5, last_error=error)
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    same_bytes(
        run_from_row(failed).model_dump_json(), wire_run(failed, expires_at=None, usage=usage)
    )
    cut = run_row(
        status="incomplete",
        required_action=None,
        incomplete_details={"reason": "max_completion_tokens"},
    )
    run = run_from_row(cut)
    assert run.incomplete_details == IncompleteDetails(reason="max_completion_tokens")
    body = json.loads(run.model_dump_json())
    same_bytes(run.model_dump_json(), wire_run(cut, expires_at=None, usage=usage))
    assert_matches_schema(body, "RunObject")
    assert sdk_threads.Run.model_validate(body).incomplete_details is not None
