"""Run steps: list and retrieve, with the `include[]` that shows file_search result content."""

from __future__ import annotations

from collections.abc import Sequence

from assistantd.errors import not_found
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, page_request, to_list
from assistantd.service.run_settings import check_include
from assistantd.store import objects
from assistantd.store.database import Conn, Database
from assistantd.wire.base import ListPage, ListQuery
from assistantd.wire.run_steps import RunStep, step_from_row


class RunStepService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_steps(
        self, caller: Caller, thread_id: str, run_id: str, query: ListQuery, include: Sequence[str]
    ) -> ListPage[RunStep]:
        check_include(include)
        async with cursor_errors(), self._db.read() as conn:
            run = await objects.runs.get(conn, caller.project_id, run_id, parent_id=thread_id)
            if run is None:
                raise await run_not_found(conn, caller, thread_id, run_id)
            page = await objects.run_steps.page(
                conn, caller.project_id, page_request(query), where={"run_id": run_id}
            )
        return to_list(page, lambda row: step_from_row(row, include))

    async def get_step(
        self, caller: Caller, thread_id: str, run_id: str, step_id: str, include: Sequence[str]
    ) -> RunStep:
        check_include(include)
        async with self._db.read() as conn:
            row = await objects.run_steps.get(
                conn,
                caller.project_id,
                step_id,
                parent_id=run_id,
                where={"thread_id": thread_id},
            )
            if row is None:
                run = await objects.runs.get(conn, caller.project_id, run_id, parent_id=thread_id)
                if run is None:
                    raise await run_not_found(conn, caller, thread_id, run_id)
                raise not_found("run step", step_id)
        return step_from_row(row, include)


async def run_not_found(conn: Conn, caller: Caller, thread_id: str, run_id: str) -> Exception:
    """The 404 for a run that is not on the thread: the thread's own, when it is missing."""
    if await objects.threads.get(conn, caller.project_id, thread_id) is None:
        return not_found("thread", thread_id)
    return not_found("run", run_id)
