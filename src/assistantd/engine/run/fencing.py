"""The write transaction of a run's attempt: fenced by its claim, so an attempt whose job was
taken over writes nothing (`LeaseLost`); None is a write by no attempt (sweeper, cancel)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from assistantd.store import jobs as job_store
from assistantd.store.database import Conn, Database
from assistantd.store.jobs import Claim


def attempt_write(db: Database, claim: Claim | None) -> AbstractAsyncContextManager[Conn]:
    if claim is None:
        return db.write()
    return job_store.fenced_write(db, claim)
