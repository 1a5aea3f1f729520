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

from sqlalchemy import select

from assistantd.engine.citations import marker
from assistantd.retrieval.search import Searcher, SearchHit
from assistantd.store import vector_stores as vs_store
from assistantd.store.database import Database
from assistantd.store.tables import assistants, threads, vector_stores

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
    def __init__(self, db: Database, searcher: Searcher, clock: Any) -> None:
        self._db = db
        self._searcher = searcher
        self._clock = clock

    async def store_ids(self, run: Mapping[Any, Any]) -> list[str]:
        """The run's stores: its own tool_resources (create-and-run) or the assistant's, plus
        the thread's; expired stores are left out."""
        async with self._db.read() as conn:
            thread = (
                await conn.execute(
                    select(threads.c.tool_resources).where(threads.c.id == run["thread_id"])
                )
            ).scalar()
            resources = run["tool_resources"]
            if not resources:
                resources = (
                    await conn.execute(
                        select(assistants.c.tool_resources).where(
                            assistants.c.id == run["assistant_id"]
                        )
                    )
                ).scalar()
            ids: list[str] = []
            for source in (resources, thread):
                for store_id in ((source or {}).get("file_search") or {}).get(
                    "vector_store_ids", []
                ):
                    if store_id not in ids:
                        ids.append(store_id)
            # The thread's attachment store counts even when the thread names another store.
            owned = select(vector_stores.c.id).where(
                vector_stores.c.thread_id == run["thread_id"],
                vector_stores.c.project_id == run["project_id"],
            )
            for row in (await conn.execute(owned)).all():
                if row.id not in ids:
                    ids.append(row.id)
            if not ids:
                return []
            now = self._clock()
            rows = (
                await conn.execute(
                    select(vector_stores.c.id, vector_stores.c.expires_at).where(
                        vector_stores.c.id.in_(ids),
                        vector_stores.c.project_id == run["project_id"],
                    )
                )
            ).all()
        live = {row.id for row in rows if row.expires_at is None or row.expires_at > now}
        return [store_id for store_id in ids if store_id in live]

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
    ) -> dict[str, Any]:
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


def not_run_item(
    run: Mapping[Any, Any], call_id: str, arguments: str, output: str
) -> dict[str, Any]:
    """A file_search call the engine did not execute (another call of the turn was invalid)."""
    return _item(run, call_id, [], arguments, output)


def _item(
    run: Mapping[Any, Any], call_id: str, hits: list[SearchHit], arguments: str, output: str
) -> dict[str, Any]:
    """The stored tool-call item: results with their text, and what the model was told under
    `_model` (the wire view shows neither unless asked, see `wire.runs.step_from_row`)."""
    config = tool_config(run["tools"]) or {}
    ranking = config.get("ranking_options") or {"ranker": "auto", "score_threshold": 0.0}
    return {
        "id": call_id,
        "type": "file_search",
        "file_search": {
            "ranking_options": {
                "ranker": "default_2024_08_21"
                if ranking.get("ranker") == "auto"
                else ranking.get("ranker"),
                "score_threshold": float(ranking.get("score_threshold") or 0.0),
            },
            "results": [
                {
                    "file_id": hit.file_id,
                    "file_name": hit.filename,
                    "score": round(hit.score, 6),
                    "content": [{"type": "text", "text": hit.text}],
                }
                for hit in hits
            ],
        },
        "_model": {"name": NAME, "arguments": arguments or "{}", "output": output},
    }
