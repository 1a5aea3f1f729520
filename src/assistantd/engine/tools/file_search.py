"""The file_search tool as the engine runs it: offered to the model as a function, executed by
searching the run's vector stores, recorded as a `file_search` tool call with its results, and
answered to the model as numbered excerpts it can cite with markers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.citations import marker
from assistantd.engine.tools.base import CallStream, StoredCall, ToolCall
from assistantd.retrieval.search import Searcher, SearchHit
from assistantd.store import tool_resources
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Database
from assistantd.wire.deltas import FileSearchToolCallDelta, ToolCallDelta
from assistantd.wire.run_steps import (
    FileSearch,
    FileSearchRankingOptions,
    FileSearchResult,
    FileSearchResultContent,
    FileSearchToolCall,
    stored_tool_call,
)

log = logging.getLogger("assistantd.engine")

NAME = "file_search"
READY_WAIT_SECONDS = 60.0


FUNCTION = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Search the files the user provided. Use it for any question the files may answer. "
            "Results are numbered excerpts; cite every fact you take from one by copying its "
            "marker (like 【0:1†report.pdf】) right after the sentence that uses it."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "queries": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 200},
                    "minItems": 1,
                    "maxItems": 5,
                    "description": "One to five search queries (keywords or questions).",
                }
            },
            "required": ["queries"],
        },
    },
}


def tool_config(tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run's file_search settings, or None when the tool is not enabled."""
    for tool in tools:
        if tool["type"] == NAME:
            config: dict[str, Any] = tool["file_search"]
            return config
    return None


def queries_of(arguments: str) -> list[str]:
    """The model's queries; tolerant of a bare `query` string or plain text."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return [arguments.strip()] if arguments.strip() else []
    if isinstance(parsed, dict):
        value = parsed.get("queries", parsed.get("query"))
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value if str(v).strip()]
    return []


def model_output(call_no: int, hits: list[SearchHit]) -> str:
    if not hits:
        return "No results found in the files."
    parts = [
        f"{marker(call_no, rank, hit.filename)} (file: {hit.filename}, score {hit.score:.2f})\n"
        f"{hit.text}"
        for rank, hit in enumerate(hits)
    ]
    return "\n\n".join(parts)


class FileSearchRunner:
    """Searches a run's vector stores (also for the engine-side search of `engine_search`)."""

    def __init__(self, db: Database, searcher: Searcher, clock: Clock) -> None:
        self._db = db
        self._searcher = searcher
        self._clock = clock

    async def store_ids(self, run: Mapping[Any, Any]) -> list[str]:
        """The run's live vector stores (see `store.tool_resources`)."""
        async with self._db.read() as conn:
            return await tool_resources.vector_store_ids(conn, run, self._clock())

    async def wait_until_ready(self, store_ids: list[str]) -> None:
        """Like the hosted tool, give files still being ingested a bounded time to finish, so
        a run started right after an upload searches them."""
        deadline = time.monotonic() + READY_WAIT_SECONDS
        while time.monotonic() < deadline:
            async with self._db.read() as conn:
                totals = await vs_store.store_totals(conn, store_ids)
            if not any(entry.by_status.get("in_progress") for entry in totals.values()):
                return
            await asyncio.sleep(0.2)
        log.warning(
            "stores %s still ingesting after %.0f s; searching anyway",
            store_ids,
            READY_WAIT_SECONDS,
        )

    async def run(
        self, run: Mapping[Any, Any], call_id: str, call_no: int, arguments: str
    ) -> StoredCall:
        """Search the run's stores and return the stored tool-call item."""
        config = tool_config(run["tools"]) or {}
        ranking = config.get("ranking_options") or {"ranker": "auto", "score_threshold": 0.0}
        limit = int(config.get("max_num_results") or 20)
        queries = queries_of(arguments)
        store_ids = await self.store_ids(run)
        hits: list[SearchHit] = []
        if queries and store_ids:
            await self.wait_until_ready(store_ids)
            hits = await self._searcher.search(
                store_ids,
                " ".join(queries),
                limit=limit,
                score_threshold=float(ranking.get("score_threshold") or 0.0),
            )
            async with self._db.write() as conn:
                await vs_store.touch(conn, store_ids, self._clock())
        output = (
            model_output(call_no, hits)
            if store_ids
            else "No files are available to search in this conversation."
        )
        return _item(run, call_id, hits, arguments, output)


def _item(
    run: Mapping[Any, Any], call_id: str, hits: list[SearchHit], arguments: str, output: str
) -> StoredCall:
    """The stored tool-call item: results with their text (the wire view shows it only when
    `include[]` asks), and what the model was told under `_model`."""
    config = tool_config(run["tools"]) or {}
    ranking = config.get("ranking_options") or {"ranker": "auto", "score_threshold": 0.0}
    call = FileSearchToolCall(
        id=call_id,
        file_search=FileSearch(
            ranking_options=FileSearchRankingOptions(
                ranker="default_2024_08_21"
                if ranking.get("ranker") == "auto"
                else str(ranking.get("ranker")),
                score_threshold=float(ranking.get("score_threshold") or 0.0),
            ),
            results=[
                FileSearchResult(
                    file_id=hit.file_id,
                    file_name=hit.filename,
                    score=round(hit.score, 6),
                    content=[FileSearchResultContent(text=hit.text)],
                )
                for hit in hits
            ],
        ),
    )
    return stored_tool_call(
        call, model={"name": NAME, "arguments": arguments or "{}", "output": output}
    )


class _SearchCallStream:
    """A search call is announced empty; its queries are not shown as they stream."""

    def announce(self, call_id: str, index: int, arguments: str, fragment: str) -> ToolCallDelta:
        return FileSearchToolCallDelta(index=index, id=call_id, file_search={})

    def more(self, index: int, fragment: str) -> ToolCallDelta | None:
        return None


class FileSearchTool:
    """file_search as a server tool."""

    name = NAME

    def __init__(self, runner: FileSearchRunner) -> None:
        self._runner = runner

    def function(self) -> dict[str, Any]:
        return FUNCTION

    def unavailable_reason(self) -> str | None:
        return None

    def call_stream(self) -> CallStream:
        return _SearchCallStream()

    async def run(self, call: ToolCall) -> StoredCall:
        return await self._runner.run(call.run, call.call_id, call.ordinal, call.arguments)

    def not_run(self, call: ToolCall, output: str) -> StoredCall:
        return _item(call.run, call.call_id, [], call.arguments, output)
