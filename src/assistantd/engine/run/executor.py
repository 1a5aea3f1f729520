"""The run loop: take one run from `queued` to a terminal state or to `requires_action`.

Each turn is planned (`planner`), streamed from the model (`streaming`), and ended: its answer
written (`answer`), its tool calls run or handed to the client (`tool_calls`). Whatever ends
the run comes back here as an `Ending` and is written by `endings`. Every state change is
committed before its event is published, so what a stream shows is what a later GET returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.bus import EventBus
from assistantd.engine.route_limits import RouteGate
from assistantd.engine.run import engine_search
from assistantd.engine.run.answer import AnswerWriter
from assistantd.engine.run.endings import Ending, RunEndings, failure, server_error
from assistantd.engine.run.fencing import attempt_write
from assistantd.engine.run.outcome import Next, Outcome
from assistantd.engine.run.planner import TurnPlanner
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.streaming import Stop, TurnStreamer
from assistantd.engine.run.tool_calls import ToolCallHandler
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.tools import ServerTools, unavailable_message
from assistantd.providers.base import ChatProvider, ProviderError
from assistantd.providers.routing import ModelRouter, Route
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim, LeaseLost
from assistantd.wire.run_status import RunStatus

log = logging.getLogger("assistantd.engine")


@dataclass(frozen=True)
class RunLimits:
    max_turns: int = 16
    max_attempts: int = 3


@dataclass(frozen=True)
class RunParts:
    """The collaborators of the run loop (built by `compose`)."""

    planner: TurnPlanner
    streamer: TurnStreamer
    answers: AnswerWriter
    tool_calls: ToolCallHandler
    endings: RunEndings
    search: engine_search.EngineSearch
    publisher: RunPublisher


class RunExecutor:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        router: ModelRouter,
        counter: TokenCounter,
        tools: ServerTools,
        parts: RunParts,
        limits: RunLimits,
        clock: Clock,
        gate: RouteGate,
    ) -> None:
        self._db = db
        self._bus = bus
        self._router = router
        self._counter = counter
        self._tools = tools
        self._parts = parts
        self._limits = limits
        self._clock = clock
        self._gate = gate

    async def execute(self, run_id: str, claim: Claim) -> None:
        """Run until the run needs the client, ends, or the process stops. Never raises for a
        model or tool failure: those end the run `failed` with `last_error`. Raises `LeaseLost`,
        having written nothing more, once another attempt has taken the run's job over."""
        if claim.followed:  # a stream, maybe in another process, follows the run
            self._bus.relay(run_id)
        try:
            ending = await self._execute(run_id, claim)
            if ending is not None:
                await self._parts.endings.end(claim, run_id, ending)
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception:  # a bug must fail the run, never leave it in_progress forever
            log.exception("run_id=%s crashed", run_id)
            await self._parts.endings.end(
                claim, run_id, server_error("The server had an internal error.")
            )
        finally:
            self._bus.forget(run_id)

    async def _execute(self, run_id: str, claim: Claim) -> Ending | None:
        now = self._clock()
        # One statement in the common case: start the run if it is still startable.
        async with attempt_write(self._db, claim) as conn:
            run = await run_store.start_run(conn, run_id, now)
        if run is None:
            async with self._db.read() as conn:
                current = await run_store.get_run(conn, run_id)
            if current is not None and current["status"] == RunStatus.CANCELLING:
                return Ending(RunStatus.CANCELLED)
            return None  # deleted, finished, or waiting for outputs: nothing to do
        if now >= run["expires_at"]:
            return Ending(RunStatus.EXPIRED)
        if claim.attempt > self._limits.max_attempts:
            return server_error(
                f"The run was interrupted {claim.attempt - 1} times and was abandoned."
            )
        if claim.attempt > 1:
            await self._parts.endings.discard_unfinished(claim, run_id)
        self._parts.publisher.run(run, RunStatus.IN_PROGRESS)
        missing = self._tools.unavailable(run["tools"])
        if missing is not None:
            return server_error(unavailable_message(*missing))
        resolved = self._router.resolve(run["model"])
        if resolved is None:
            return server_error(
                f"The model '{run['model']}' is not configured on this server: set "
                "ASSISTANTD_UPSTREAM_BASE_URL (or OPENAI_BASE_URL / OPENAI_API_KEY), or add a "
                "[models] route."
            )
        # The first turn uses the row just written rather than reading it back; a cancel
        # meanwhile reaches the turn through the bus.
        fresh: Mapping[Any, Any] | None = run
        for _ in range(self._limits.max_turns):
            outcome = await self._turn(claim, run_id, resolved, fresh)
            fresh = None
            if outcome is Next.DONE:
                return None
            if isinstance(outcome, Ending):
                return outcome
        return server_error("The run exceeded the number of model turns.")

    async def _turn(
        self,
        claim: Claim,
        run_id: str,
        resolved: tuple[Route, ChatProvider],
        run: Mapping[Any, Any] | None,
    ) -> Outcome:
        """One model call (`run`: the run's current row, if the caller has it)."""
        route, provider = resolved
        async with self._db.read() as conn:
            if run is None:
                run = await run_store.get_run(conn, run_id)
            if run is None:
                return Next.DONE
            steps: list[Mapping[Any, Any]] = list(await run_store.steps_of(conn, run_id))
        if run["status"] != RunStatus.IN_PROGRESS:
            if run["status"] == RunStatus.CANCELLING:
                return Ending(RunStatus.CANCELLED)
            return Next.DONE
        if engine_search.searches(route, run, steps):
            searched = await self._parts.search.search(claim, run)
            steps = [*steps, searched] if searched is not None else steps
        plan = await self._parts.planner.plan(route, run, steps)
        if isinstance(plan, Ending):
            return plan
        turn = plan.turn
        budget = self._gate.budget(route.group)
        try:
            await self._parts.streamer.stream(
                claim, run, provider, plan.request, turn, budget, plan.prompt_tokens
            )
        except Stop as stop:
            # Ended here, not by the caller: the open message keeps the text streamed so far.
            if stop.ending is not None:
                await self._parts.endings.end(claim, run_id, stop.ending, partial=turn.partial())
            return Next.DONE
        except ProviderError as exc:
            ending = failure(exc.code, exc.message)
            await self._parts.endings.end(claim, run_id, ending, partial=turn.partial())
            return Next.DONE
        turn_usage = {
            "prompt_tokens": turn.prompt_tokens
            if turn.prompt_tokens is not None
            else plan.prompt_tokens,
            "completion_tokens": turn.completion_tokens
            if turn.completion_tokens is not None
            else self._counter.text(turn.text)
            + sum(self._counter.text(c.arguments) for c in turn.calls.values()),
        }
        if budget is not None:  # what the turn cost beyond the estimate spent on its request
            budget.charge(
                turn_usage["prompt_tokens"] - plan.prompt_tokens + turn_usage["completion_tokens"]
            )
        usage = {k: plan.usage[k] + turn_usage[k] for k in ("prompt_tokens", "completion_tokens")}
        outcome = await self._parts.answers.finish(claim, run, turn, turn_usage, usage)
        if outcome is not Next.CONTINUE or not turn.calls:
            return outcome
        return await self._parts.tool_calls.finish(claim, run, turn, turn_usage, usage)
