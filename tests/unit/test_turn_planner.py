"""A model turn planned from a stored thread, run and steps: no server, no model, just the
database the services wrote and the planner."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from assistantd.engine.images import ImageLoader
from assistantd.engine.run import Ending, TurnPlanner
from assistantd.engine.run.planner import TurnPlan
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.tools import ServerTools
from assistantd.engine.tools.file_search import FileSearchTool
from assistantd.providers.routing import Route
from assistantd.store import runs as run_store
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database
from assistantd.store.tables import messages, runs, threads
from assistantd.wire.run_status import RunStatus
from tests.support.run_rows import message_row, run_row, thread_row
from tests.support.sqlite_db import migrated_sqlite

ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
        "strict": False,
    },
}
HISTORY = [
    ("user", "What is 2+2?"),
    ("assistant", "4."),
    ("user", "And 3+3?"),
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with migrated_sqlite(tmp_path / "plan.sqlite3") as database:
        yield database


def route(context_length: int = 8192) -> Route:
    return Route(
        base_url="http://unused",
        api_key="",
        upstream_model="upstream-model",
        context_length=context_length,
        include_usage=False,
    )


def plan(
    db: Database,
    tmp_path: Path,
    steps: list[Mapping[str, Any]] | None = None,
    context_length: int = 8192,
    **settings: Any,
) -> TurnPlan | Ending:
    async def scenario() -> TurnPlan | Ending:
        async with db.write() as conn:
            await conn.execute(insert(threads), thread_row("thread_a"))
            await conn.execute(
                insert(messages),
                [
                    message_row(f"msg_{i}", "thread_a", role, text, at=i)
                    for i, (role, text) in enumerate(HISTORY)
                ],
            )
            await conn.execute(insert(runs), run_row("run_a", "thread_a", **settings))
        async with db.read() as conn:
            stored = await run_store.get_run(conn, "run_a")
        assert stored is not None
        # file_search's offer to the model needs no searcher: the planner never searches.
        tools = ServerTools([FileSearchTool(runner=None)])  # type: ignore[arg-type]
        images = ImageLoader(db, BlobStore(tmp_path / "files"))
        planner = TurnPlanner(db, images, TokenCounter(), tools)
        return await planner.plan(route(context_length), stored, steps or [])

    return asyncio.run(scenario())


def test_the_first_turn_is_the_thread_under_the_runs_settings(db: Database, tmp_path: Path) -> None:
    planned = plan(
        db,
        tmp_path,
        tools=[ADD, {"type": "file_search"}],
        temperature=0.2,
        truncation_strategy={"type": "last_messages", "last_messages": 2},
    )
    assert isinstance(planned, TurnPlan)
    request = planned.request
    assert request.model == "upstream-model"
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "4."},  # the oldest message truncated away
        {"role": "user", "content": "And 3+3?"},
    ]
    assert request.tools is not None
    assert request.tools[0] == {"type": "function", "function": ADD["function"]}
    assert request.tools[1]["function"]["name"] == "file_search"
    assert request.tools[1]["function"]["parameters"]["required"] == ["queries"]
    assert (request.tool_choice, request.parallel_tool_calls, request.temperature) == (
        "auto",
        True,
        0.2,
    )
    assert (request.max_tokens, request.response_format) == (None, None)
    assert planned.usage == {"prompt_tokens": 0, "completion_tokens": 0}
    assert planned.turn.calls_before == {}


def test_a_later_turn_carries_the_runs_own_tool_calls_and_sources(
    db: Database, tmp_path: Path
) -> None:
    search_step = {
        "status": "completed",
        "step_details": {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": "call_s",
                    "type": "file_search",
                    "file_search": {
                        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                        "results": [
                            {
                                "file_id": "file_1",
                                "file_name": "notes.txt",
                                "score": 0.9,
                                "content": [{"type": "text", "text": "Six is 3+3."}],
                            }
                        ],
                    },
                    "_model": {
                        "name": "file_search",
                        "arguments": '{"queries": ["3+3"]}',
                        "output": "【0:0†notes.txt】 Six is 3+3.",
                    },
                }
            ],
        },
    }
    planned = plan(
        db,
        tmp_path,
        steps=[search_step],
        tools=[{"type": "file_search"}],
        tool_choice="required",
        usage={"prompt_tokens": 30, "completion_tokens": 5},
    )
    assert isinstance(planned, TurnPlan)
    assert planned.request.messages[-2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_s",
                    "type": "function",
                    "function": {"name": "file_search", "arguments": '{"queries": ["3+3"]}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_s", "content": "【0:0†notes.txt】 Six is 3+3."},
    ]
    # `required` held for the first turn only: the model may now answer.
    assert planned.request.tool_choice == "auto"
    assert planned.turn.calls_before == {"file_search": 1}
    assert planned.turn.citations.sources == {(0, 0): "file_1"}  # marker 【0:0†...】 cites it
    assert planned.usage == {"prompt_tokens": 30, "completion_tokens": 5}


def test_a_run_out_of_completion_tokens_ends_incomplete_instead(
    db: Database, tmp_path: Path
) -> None:
    planned = plan(
        db,
        tmp_path,
        max_completion_tokens=5,
        usage={"prompt_tokens": 30, "completion_tokens": 5},
    )
    assert planned == Ending(RunStatus.INCOMPLETE, incomplete="max_completion_tokens")


def test_a_thread_that_cannot_fit_fails_or_ends_incomplete_by_the_runs_limit(
    db: Database, tmp_path: Path
) -> None:
    failed = plan(db, tmp_path, context_length=8, instructions="x " * 50)
    assert isinstance(failed, Ending)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error["code"] == "invalid_prompt"
    assert failed.error["message"].startswith("The conversation does not fit the model's context")


def test_a_thread_over_max_prompt_tokens_ends_incomplete(db: Database, tmp_path: Path) -> None:
    planned = plan(db, tmp_path, instructions="x " * 50, max_prompt_tokens=10)
    assert planned == Ending(RunStatus.INCOMPLETE, incomplete="max_prompt_tokens")
