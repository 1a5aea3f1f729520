"""The run lifecycle: the table of moves (written out here independently of the code), the
sets derived from it, and the one writer of a status refusing every move it lacks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert

from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.tables import runs, threads
from assistantd.wire.run_status import (
    ACTIVE,
    IDLE,
    STREAM_ENDS,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    RunStatus,
    allowed,
    sources_of,
)
from tests.support.run_rows import run_row, thread_row
from tests.support.sqlite_db import migrated_sqlite

EXPECTED_MOVES = {
    "queued": {"in_progress", "cancelled", "expired"},
    "in_progress": {
        "in_progress",
        "requires_action",
        "cancelling",
        "completed",
        "incomplete",
        "failed",
        "expired",
    },
    "requires_action": {"queued", "cancelled", "expired"},
    "cancelling": {"cancelled", "failed", "expired"},
    "cancelled": set(),
    "failed": set(),
    "completed": set(),
    "incomplete": set(),
    "expired": set(),
}
PAIRS = list(itertools.product(list(RunStatus), repeat=2))


def test_the_table_holds_exactly_the_lifecycle_moves() -> None:
    table = {source.value: {t.value for t in targets} for source, targets in TRANSITIONS.items()}
    assert table == EXPECTED_MOVES


def test_the_status_sets_are_derived_from_the_table() -> None:
    terminal = {"cancelled", "failed", "completed", "incomplete", "expired"}
    assert {s.value for s in TERMINAL} == terminal
    assert {s.value for s in ACTIVE} == {
        "queued",
        "in_progress",
        "requires_action",
        "cancelling",
    }
    assert {s.value for s in IDLE} == {"queued", "requires_action"}
    assert {s.value for s in STREAM_ENDS} == terminal | {"requires_action"}
    assert {s.value for s in sources_of(RunStatus.CANCELLED)} == {
        "queued",
        "requires_action",
        "cancelling",
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated_sqlite(tmp_path_factory.mktemp("status") / "runs.sqlite3") as database:
        yield database


def _seed(db: Database, run_id: str, status: RunStatus) -> None:
    async def seed() -> None:
        async with db.write() as conn:
            await conn.execute(insert(threads), thread_row("thread_" + run_id))
            await conn.execute(insert(runs), run_row(run_id, "thread_" + run_id, status=status))

    asyncio.run(seed())


def _move(
    db: Database, run_id: str, target: RunStatus, sources: tuple[RunStatus, ...]
) -> tuple[Any, str]:
    """move_run's answer (or the exception it raised) and the status stored afterwards."""

    async def move() -> tuple[Any, str]:
        try:
            async with db.write() as conn:
                answer: Any = await run_store.move_run(conn, run_id, target, sources)
        except IllegalTransition as exc:
            answer = exc
        async with db.read() as conn:
            stored = await run_store.get_run(conn, run_id)
        assert stored is not None
        return answer, stored["status"]

    return asyncio.run(move())


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_every_move_is_written_or_refused_as_the_table_says(
    db: Database, source: RunStatus, target: RunStatus
) -> None:
    run_id = f"run_{source}_{target}"
    _seed(db, run_id, source)
    answer, stored = _move(db, run_id, target, (source,))
    if target.value in EXPECTED_MOVES[source.value]:
        assert allowed(source, target)
        assert answer is not None
        assert answer["status"] == target.value
        assert stored == target.value
    else:
        assert not allowed(source, target)
        assert isinstance(answer, IllegalTransition)
        assert (answer.source, answer.target) == (source, target)
        assert stored == source.value  # refused before anything was written


def test_a_move_from_a_status_the_run_has_left_writes_nothing(db: Database) -> None:
    # The worker would complete a run a cancel has meanwhile marked `cancelling`.
    _seed(db, "run_raced", RunStatus.CANCELLING)
    answer, stored = _move(db, "run_raced", RunStatus.COMPLETED, (RunStatus.IN_PROGRESS,))
    assert (answer, stored) == (None, "cancelling")


def test_a_move_of_a_missing_run_writes_nothing(db: Database) -> None:
    answer, _ = asyncio.run(_missing_move(db))
    assert answer is None


async def _missing_move(db: Database) -> tuple[Any, None]:
    async with db.write() as conn:
        answer = await run_store.move_run(
            conn, "run_gone", RunStatus.CANCELLING, (RunStatus.IN_PROGRESS,)
        )
    return answer, None


def test_other_columns_cannot_smuggle_a_status_change(db: Database) -> None:
    _seed(db, "run_smuggle", RunStatus.QUEUED)

    async def smuggle() -> None:
        async with db.write() as conn:
            await run_store.set_run(conn, "run_smuggle", {"status": "completed"})

    with pytest.raises(ValueError, match="move_run"):
        asyncio.run(smuggle())
