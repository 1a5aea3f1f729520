"""The durable job queue: one row per pending unit of work, claimed with a renewable lease.

A job is `queued` until a worker claims it (`running`, with `owner` and `lease_until_ms`, and
`attempts` bumped); the owner renews the lease while it works and deletes the row when done. A
job whose lease ran out (its worker died) is claimable again, so every accepted job is
eventually finished by someone. Every write by a holder is fenced by its `Claim` (id, owner and
attempt number): once another attempt has taken the job over, the old one can write nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    RowMapping,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    union_all,
    update,
)

from assistantd.ids import new_id
from assistantd.store.database import Conn, Database
from assistantd.store.tables import jobs

_INSERT = insert(jobs)


@dataclass(frozen=True)
class Claim:
    """One attempt's hold on a job: valid while the row still has this owner and attempt.
    `followed`: a stream in some process follows the job (its events must be relayed)."""

    job_id: str
    owner: str
    attempt: int
    followed: bool = False


class LeaseLost(Exception):
    """This attempt no longer holds its job (another attempt took it over, or it is gone): the
    attempt must stop without writing anything. Never reaches a client."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(f"job {claim.job_id} attempt {claim.attempt} no longer holds its lease")
        self.claim = claim


async def enqueue(
    conn: Conn,
    kind: str,
    ref_id: str,
    now: int,
    *,
    owner: str | None = None,
    lease_until_ms: int | None = None,
    route: str | None = None,
    followed_by: str | None = None,
) -> str:
    """Add a job; with `owner` it is created already claimed by that worker. `route`: the
    limit group the job counts against while it runs (a run's model route); `followed_by`:
    the pool whose process streams it, when that pool has not claimed it itself."""
    job_id = new_id("job")
    await conn.execute(
        _INSERT,
        {
            "id": job_id,
            "kind": kind,
            "ref_id": ref_id,
            "status": "queued" if owner is None else "running",
            "owner": owner,
            "lease_until_ms": lease_until_ms,
            "attempts": 0 if owner is None else 1,
            "created_at": now,
            "route": route,
            "followed_by": followed_by,
        },
    )
    return job_id


_CLAIMABLE = or_(
    jobs.c.status == "queued",
    and_(jobs.c.status == "running", jobs.c.lease_until_ms < bindparam("now_ms")),
)


# The routes that are full (at their limit) are skipped; jobs without a route never are.
_OPEN_ROUTE = or_(
    jobs.c.route.is_(None), jobs.c.route.not_in(bindparam("full_routes", expanding=True))
)


# SQLite has no relay of events between processes: a streamed job is claimed by the pool of
# the process streaming it, or by anyone once a lease's time has passed (that process died).
_FOLLOWED_HERE = or_(
    jobs.c.followed_by.is_(None),
    jobs.c.followed_by == bindparam("owner"),
    jobs.c.created_at < bindparam("followed_until"),
)


def _oldest(*conditions: Any) -> Any:
    return (
        select(jobs.c.id, jobs.c.seq)
        .where(jobs.c.kind == bindparam("job_kind"), *conditions)
        .order_by(jobs.c.seq)
        .limit(1)
        .subquery()
    )


def _claim(skip_locked: bool, skip_routes: bool) -> Any:
    """One statement: the claim is the UPDATE of the row the subquery picked."""
    route = (_OPEN_ROUTE,) if skip_routes else ()
    if skip_locked:
        candidate = (
            select(jobs.c.id)
            .where(jobs.c.kind == bindparam("job_kind"), _CLAIMABLE, *route)
            .order_by(jobs.c.seq)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    else:
        # SQLite plans the OR above as a scan of every job of the kind plus a sort (0.7 ms at
        # 1,500 queued files); the oldest of each branch is one index probe each.
        queued = _oldest(jobs.c.status == "queued", _FOLLOWED_HERE, *route)
        expired = _oldest(
            jobs.c.status == "running", jobs.c.lease_until_ms < bindparam("now_ms"), *route
        )
        both = union_all(select(queued.c.id, queued.c.seq), select(expired.c.id, expired.c.seq))
        either = both.subquery()
        candidate = select(either.c.id).order_by(either.c.seq).limit(1).scalar_subquery()
    return (
        update(jobs)
        .where(jobs.c.id == candidate)
        .values(
            status="running",
            owner=bindparam("owner"),
            lease_until_ms=bindparam("lease_until_ms"),
            attempts=jobs.c.attempts + 1,
        )
        .returning(*jobs.c)
    )


_CLAIM = {
    (locked, routes): _claim(skip_locked=locked, skip_routes=routes)
    for locked in (True, False)
    for routes in (True, False)
}


async def claim_next(
    conn: Conn,
    kind: str,
    owner: str,
    now_ms: int,
    lease_until_ms: int,
    *,
    skip_locked: bool,
    full_routes: list[str] | None = None,
) -> RowMapping | None:
    """Claim the oldest queued job of `kind`, or a running one whose lease has expired,
    leaving out jobs of the `full_routes` (their order among themselves is kept)."""
    params: dict[str, Any] = {
        "job_kind": kind,
        "owner": owner,
        "now_ms": now_ms,
        "lease_until_ms": lease_until_ms,
        # created_at is in seconds; a job followed elsewhere for a lease's length is free
        "followed_until": (2 * now_ms - lease_until_ms) // 1000,
    }
    if full_routes:
        params["full_routes"] = full_routes
    statement = _CLAIM[skip_locked, bool(full_routes)]
    return (await conn.execute(statement, params)).mappings().first()


_RUNNING_BY_ROUTE = (
    select(jobs.c.route, func.count().label("running"))
    .where(
        jobs.c.kind == bindparam("job_kind"),
        jobs.c.status == "running",
        jobs.c.lease_until_ms >= bindparam("now_ms"),
        jobs.c.route.in_(bindparam("routes", expanding=True)),
    )
    .group_by(jobs.c.route)
)


async def running_by_route(conn: Conn, kind: str, routes: list[str], now_ms: int) -> dict[str, int]:
    """How many jobs of each of `routes` are running under a live lease, in every process (a
    job whose lease ran out is not counted: its worker is gone, and it is claimable again)."""
    params = {"job_kind": kind, "routes": routes, "now_ms": now_ms}
    rows = (await conn.execute(_RUNNING_BY_ROUTE, params)).mappings()
    return {row["route"]: row["running"] for row in rows}


# Any constant: the key of the PostgreSQL advisory lock that claims of limited routes share.
_ROUTE_CLAIM_LOCK = 0x61737364


JOBS_CHANNEL = "assistantd_jobs"


async def announce(conn: Conn, kind: str) -> None:
    """Tell every process's idle workers (PostgreSQL) that a `kind` job is waiting; sent when
    the transaction commits. On SQLite, other processes find it at their next poll."""
    if conn.dialect.name == "postgresql":
        notify = text("SELECT pg_notify(:channel, :kind)")
        await conn.execute(notify, {"channel": JOBS_CHANNEL, "kind": kind})


async def serialise_route_claims(conn: Conn) -> None:
    """Hold (until the transaction ends) the lock that makes counting a route's running jobs
    and claiming one a single step across processes. SQLite's write lock already does."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROUTE_CLAIM_LOCK})


def _held(*extra: Any) -> Any:
    """The fencing condition: the row is still this attempt's."""
    return and_(
        jobs.c.id == bindparam("job_id"),
        jobs.c.owner == bindparam("job_owner"),
        jobs.c.attempts == bindparam("job_attempt"),
        *extra,
    )


def _fence(claim: Claim) -> dict[str, Any]:
    return {"job_id": claim.job_id, "job_owner": claim.owner, "job_attempt": claim.attempt}


# Built once, like the claim: every job is renewed and finished (building costs more than
# running them on SQLite).
_RENEW = (
    update(jobs)
    .where(_held(jobs.c.status == "running"))
    .values(lease_until_ms=bindparam("new_lease_until_ms"))
)
_FINISH = delete(jobs).where(_held())
_RELEASE = update(jobs).where(_held()).values(status="queued", owner=None, lease_until_ms=None)
# FOR UPDATE (PostgreSQL) keeps the row this attempt's until the transaction ends: a claimer
# skips a locked row, so nobody can take the job over between the check and the commit. On
# SQLite the write lock already serialises this transaction with every claim.
_HELD = select(jobs.c.id).where(_held(jobs.c.status == "running"))
_HOLDS = {True: _HELD.with_for_update(), False: _HELD}


async def renew(conn: Conn, claim: Claim, lease_until_ms: int) -> bool:
    """Extend the lease; False means the job is no longer this attempt's (taken over or gone)."""
    params = {**_fence(claim), "new_lease_until_ms": lease_until_ms}
    return bool((await conn.execute(_RENEW, params)).rowcount)


async def finish(conn: Conn, claim: Claim) -> bool:
    """Delete a done job; False (nothing deleted) when the job is no longer this attempt's."""
    return bool((await conn.execute(_FINISH, _fence(claim))).rowcount)


async def release(conn: Conn, claim: Claim) -> bool:
    """Give a claimed job back to the queue (shutdown); False when it is no longer ours."""
    return bool((await conn.execute(_RELEASE, _fence(claim))).rowcount)


async def holds(conn: Conn, claim: Claim, *, lock: bool = True) -> bool:
    """Whether the job is still this attempt's. With `lock` (in a write transaction) the row
    stays locked on PostgreSQL until the transaction ends, so the answer holds until then."""
    return (await conn.execute(_HOLDS[lock], _fence(claim))).first() is not None


@asynccontextmanager
async def fenced_write(db: Database, claim: Claim) -> AsyncIterator[Conn]:
    """A write transaction of a job's attempt: raises `LeaseLost`, having written nothing,
    when the attempt no longer holds the job."""
    async with db.write() as conn:
        if not await holds(conn, claim):
            raise LeaseLost(claim)
        yield conn
