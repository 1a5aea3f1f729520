"""Engine-side search: which turn searches, and the request the model gets afterwards (no
file_search tool, the cite instruction, passages folded into the user's message for a model
with emulated tools, the markers an embedded answer must cite)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from assistantd.engine.run.engine_search import (
    CITE_INSTRUCTION,
    fold,
    searches,
    searches_of,
    shape,
)
from assistantd.engine.tools import ServerTools
from assistantd.engine.tools.file_search import FileSearchTool
from assistantd.providers.base import ChatRequest
from assistantd.providers.routing import Route

ENGINE = Route("", "", None, 2048, True, file_search="engine")
MODEL = dataclasses.replace(ENGINE, file_search="model")
EMBEDDED = dataclasses.replace(ENGINE, provider="embedded", vision=False)
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
FILE_SEARCH = {"type": "file_search", "file_search": {}}


def run(tools: list[dict[str, Any]], tool_choice: Any = "auto") -> dict[str, Any]:
    return {"tools": tools, "tool_choice": tool_choice}


def search_step(call_id: str, *names: str) -> dict[str, Any]:
    results = [
        {
            "file_id": f"file-{n}",
            "file_name": n,
            "score": 0.5,
            "content": [{"type": "text", "text": f"about {n}"}],
        }
        for n in names
    ]
    item = {
        "id": call_id,
        "type": "file_search",
        "file_search": {"ranking_options": {}, "results": results},
        "_model": {"name": "file_search", "arguments": "{}", "output": "..."},
    }
    return {"step_details": {"type": "tool_calls", "tool_calls": [item]}}


def function_step(call_id: str) -> dict[str, Any]:
    item = {"id": call_id, "type": "function", "function": {"name": "get_weather", "output": "{}"}}
    return {"step_details": {"type": "tool_calls", "tool_calls": [item]}}


MESSAGE_STEP = {"step_details": {"type": "message_creation", "message_creation": {}}}


# --- which turn searches --------------------------------------------------------------------


def test_the_first_turn_of_an_engine_route_with_file_search_searches() -> None:
    assert searches(ENGINE, run([FILE_SEARCH]), [])
    assert searches(ENGINE, run([WEATHER, FILE_SEARCH]), [])
    assert searches(ENGINE, run([FILE_SEARCH], "required"), [])
    assert searches(ENGINE, run([FILE_SEARCH], {"type": "file_search"}), [])
    assert searches(EMBEDDED, run([FILE_SEARCH], None), [])


@pytest.mark.parametrize(
    ("route", "tools", "choice", "steps"),
    [
        (MODEL, [FILE_SEARCH], "auto", []),  # the model searches on this route
        (ENGINE, [WEATHER], "auto", []),  # no file_search tool
        (ENGINE, [FILE_SEARCH], "auto", [search_step("c1", "a.txt")]),  # resumed after it
        (ENGINE, [WEATHER, FILE_SEARCH], "auto", [function_step("c1")]),  # a later turn
        (ENGINE, [WEATHER, FILE_SEARCH], "auto", [MESSAGE_STEP]),  # a later turn
        (ENGINE, [FILE_SEARCH], "none", []),  # no tools this run
        (
            ENGINE,
            [WEATHER, FILE_SEARCH],
            {"type": "function", "function": {"name": "get_weather"}},
            [],
        ),  # the client's function must come first
    ],
)
def test_no_search(route: Route, tools: list[Any], choice: Any, steps: list[Any]) -> None:
    assert not searches(route, run(tools, choice), steps)


# file_search's offer to the model needs no searcher.
SERVER_TOOLS = ServerTools([FileSearchTool(runner=None)])  # type: ignore[arg-type]

# --- the request after the search -------------------------------------------------------------


def request(
    tools: list[dict[str, Any]], choice: Any = "auto", messages: list[Any] | None = None
) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=messages or [{"role": "user", "content": "Who built it?"}],
        tools=SERVER_TOOLS.chat_tools(tools),
        tool_choice=choice,
        parallel_tool_calls=True,
    )


def conversation(call_id: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": "file_search"}}
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who built it?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": "【0:0†a.txt】 ..."},
    ]


def test_a_model_route_is_left_alone() -> None:
    sent = request([FILE_SEARCH])
    assert shape(MODEL, [search_step("c1", "a.txt")], sent) is sent


def test_file_search_is_never_offered_on_an_engine_route() -> None:
    alone = shape(
        ENGINE,
        [],
        request([FILE_SEARCH], {"type": "function", "function": {"name": "file_search"}}),
    )
    assert (alone.tools, alone.tool_choice, alone.parallel_tool_calls) == (None, None, None)
    assert alone.cite == ()
    assert alone.messages == [{"role": "user", "content": "Who built it?"}], "no results, no note"
    both = shape(
        ENGINE,
        [],
        request([WEATHER, FILE_SEARCH], {"type": "function", "function": {"name": "file_search"}}),
    )
    assert [t["function"]["name"] for t in both.tools or []] == ["get_weather"]
    assert both.tool_choice == "auto"
    assert both.parallel_tool_calls is True


def test_native_tools_see_the_call_and_result_with_the_cite_instruction() -> None:
    steps = [search_step("c1", "a.txt", "b.txt")]
    shaped = shape(ENGINE, steps, request([FILE_SEARCH], messages=conversation("c1")))
    assert shaped.messages[0] == {"role": "system", "content": f"Be brief.\n\n{CITE_INSTRUCTION}"}
    assert shaped.messages[1:] == conversation("c1")[1:], "as if the model had called the tool"
    assert shaped.cite == ("【0:0†a.txt】", "【0:1†b.txt】")


def test_emulated_tools_get_the_passages_in_the_users_message() -> None:
    steps = [search_step("c1", "a.txt", "b.txt")]
    shaped = shape(EMBEDDED, steps, request([FILE_SEARCH], messages=conversation("c1")))
    assert shaped.messages == [
        {"role": "system", "content": f"Be brief.\n\n{CITE_INSTRUCTION}"},
        {
            "role": "user",
            "content": "Excerpts from my files:\n\nabout a.txt 【0:0†a.txt】\n\n"
            "about b.txt 【0:1†b.txt】\n\nQuestion: Who built it?",
        },
    ]
    assert shaped.cite == ("【0:0†a.txt】", "【0:1†b.txt】")
    tools_false = dataclasses.replace(ENGINE, tools=False)
    assert shape(tools_false, steps, request([FILE_SEARCH], messages=conversation("c1"))) == shaped


def test_no_results_are_said_as_the_model_driven_path_says_them() -> None:
    shaped = shape(
        EMBEDDED, [search_step("c1")], request([FILE_SEARCH], messages=conversation("c1"))
    )
    assert shaped.messages[0] == {"role": "system", "content": "Be brief."}
    assert shaped.messages[1]["content"] == (
        "Excerpts from my files:\n\nNo results found in the files.\n\nQuestion: Who built it?"
    )
    assert shaped.cite == ()


def test_after_a_function_call_the_answer_need_not_cite() -> None:
    steps = [search_step("c1", "a.txt"), function_step("c2")]
    weather = {"id": "c2", "type": "function", "function": {"name": "get_weather"}}
    messages = [
        *conversation("c1"),
        {"role": "assistant", "content": None, "tool_calls": [weather]},
        {"role": "tool", "tool_call_id": "c2", "content": "{}"},
    ]
    shaped = shape(EMBEDDED, steps, request([WEATHER, FILE_SEARCH], messages=messages))
    assert shaped.cite == ()
    assert [m["role"] for m in shaped.messages] == ["system", "user", "assistant", "tool"]
    assert shaped.messages[2]["tool_calls"] == [weather], "the function call stays"
    assert "about a.txt 【0:0†a.txt】" in shaped.messages[1]["content"]


def test_markers_are_numbered_by_call_as_the_citations_are() -> None:
    steps = [search_step("c1", "a.txt"), MESSAGE_STEP, search_step("c2", "b.txt", "c.txt")]
    found = searches_of(steps)
    assert [p.marker for p in found["c1"]] == ["【0:0†a.txt】"]
    assert [p.marker for p in found["c2"]] == ["【1:0†b.txt】", "【1:1†c.txt】"]


def test_fold_puts_image_parts_after_the_excerpts() -> None:
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {}}]
    messages = [{"role": "user", "content": parts}, *conversation("c1")[2:]]
    folded = fold(messages, searches_of([search_step("c1", "a.txt")]))
    assert folded == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "Excerpts from my files:\n\nabout a.txt 【0:0†a.txt】\n\nQuestion: ",
                },
                *parts,
            ],
        }
    ]
