"""A run's lifecycle: its statuses and the one table of the moves between them.

Every change of a run's status is checked against `TRANSITIONS` (see `store.runs.move_run`,
the one function that writes a status); the sets other code needs are derived from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    REQUIRES_ACTION = "requires_action"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    EXPIRED = "expired"


S = RunStatus
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # A worker starts it; a cancel ends it at once (nothing runs yet); the sweeper expires it.
    S.QUEUED: frozenset({S.IN_PROGRESS, S.CANCELLED, S.EXPIRED}),
    S.IN_PROGRESS: frozenset(
        {
            # A resumed attempt takes over a run an interrupted attempt left in progress.
            S.IN_PROGRESS,
            S.REQUIRES_ACTION,
            # A cancel asks the worker to stop; the worker ends the run.
            S.CANCELLING,
            S.COMPLETED,
            S.INCOMPLETE,
            S.FAILED,
            S.EXPIRED,
        }
    ),
    # Outputs submitted: queued for the next turn; or cancelled or expired while waiting.
    S.REQUIRES_ACTION: frozenset({S.QUEUED, S.CANCELLED, S.EXPIRED}),
    # The worker stops at its next check; a failure or the deadline may come first.
    S.CANCELLING: frozenset({S.CANCELLED, S.FAILED, S.EXPIRED}),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
    S.COMPLETED: frozenset(),
    S.INCOMPLETE: frozenset(),
    S.EXPIRED: frozenset(),
}
del S

TERMINAL: frozenset[RunStatus] = frozenset(s for s, moves in TRANSITIONS.items() if not moves)
ACTIVE: frozenset[RunStatus] = frozenset(RunStatus) - TERMINAL
# Statuses no worker is executing: only the sweeper acts on them (expiry).
IDLE: frozenset[RunStatus] = frozenset({RunStatus.QUEUED, RunStatus.REQUIRES_ACTION})
# Where a run stream stops: the run ended, or it waits for the client.
STREAM_ENDS: frozenset[RunStatus] = TERMINAL | {RunStatus.REQUIRES_ACTION}


class IllegalTransition(Exception):
    """Code asked for a move the run lifecycle does not have: a bug, never a client error."""

    def __init__(self, source: RunStatus, target: RunStatus) -> None:
        super().__init__(f"a run cannot move from {source} to {target}")
        self.source = source
        self.target = target


def allowed(source: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS[source]


def sources_of(target: RunStatus) -> frozenset[RunStatus]:
    """Every status a run may reach `target` from."""
    return frozenset(s for s, moves in TRANSITIONS.items() if target in moves)


def check_moves(sources: Iterable[RunStatus], target: RunStatus) -> tuple[RunStatus, ...]:
    """`sources` as a tuple, once each move to `target` is known to be allowed."""
    checked = tuple(sources)
    for source in checked:
        if not allowed(source, target):
            raise IllegalTransition(source, target)
    return checked
