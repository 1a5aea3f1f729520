"""The run loop: take one run from `queued` to a terminal state or to `requires_action`.

Every state change is committed before its event is published, so what a stream shows is
always what a later GET returns. Text and tool-call fragments are streamed as they arrive and
written once, when their message or step completes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert

from assistantd.clock import Clock
from assistantd.engine import code_interpreter, engine_search, file_search
from assistantd.engine.bus import EventBus
from assistantd.engine.chat_request import (
    chat_response_format,
    chat_tool_choice,
    chat_tools,
    turn_tool_choice,
)
from assistantd.engine.citations import CitationScanner, paths_of_steps, sources_of_steps
from assistantd.engine.code_interpreter import CodeInterpreterRunner, CodeInterpreterUnavailable
from assistantd.engine.file_search import FileSearchRunner, not_run_item
from assistantd.engine.images import ImageLoader
from assistantd.engine.prompt import PromptTooLong
from assistantd.engine.run_prompt import build_run_prompt
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.turn import (
    Call,
    Turn,
    awaits_outputs,
    call_problem,
    image_parts,
    message_of,
    step_row,
    unshown_images,
)
from assistantd.ids import new_id
from assistantd.providers.base import ChatRequest, ProviderError, ToolCallDelta
from assistantd.providers.routing import ModelRouter
from assistantd.store import jobs as job_store
from assistantd.store import runs as run_store
from assistantd.store.database import Conn, Database
from assistantd.store.jobs import Claim, LeaseLost
from assistantd.store.tables import messages, run_steps
from assistantd.store.text import storable
from assistantd.wire.messages import message_from_row
from assistantd.wire.runs import run_from_row, step_from_row

log = logging.getLogger("assistantd.engine")

_STATUS_CHECK_SECONDS = 0.5
_INSERT_STEP = insert(run_steps)
_INSERT_MESSAGE = insert(messages)
# Room left for the answer when `auto` truncation fits a prompt into the context window.
_ANSWER_RESERVE = 4096


@dataclass(frozen=True)
class EngineConfig:
    retries: int = 3
    retry_base_seconds: float = 0.5
    max_turns: int = 16
    max_attempts: int = 3


class _Stop(Exception):
    """The run must end now (cancelled or past its deadline) while a turn is streaming."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class RunExecutor:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        router: ModelRouter,
        counter: TokenCounter,
        config: EngineConfig,
        clock: Clock,
        file_search: FileSearchRunner,
        images: ImageLoader,
        code: CodeInterpreterRunner,
    ) -> None:
        self._images = images
        self._code = code
        self._db = db
        self._bus = bus
        self._router = router
        self._counter = counter
        self._config = config
        self._clock = clock
        self._file_search = file_search
        self._engine_search = engine_search.EngineSearch(db, bus, clock, file_search)

    async def execute(self, run_id: str, claim: Claim) -> None:
        """Run until the run needs the client, ends, or the process stops. Never raises for a
        model or tool failure: those end the run `failed` with `last_error`. Raises `LeaseLost`,
        having written nothing more, once another attempt has taken the run's job over."""
        try:
            await self._execute(run_id, claim)
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception:  # a bug must fail the run, never leave it in_progress forever
            log.exception("run_id=%s crashed", run_id)
            await self._end(
                claim,
                run_id,
                "failed",
                error={"code": "server_error", "message": "The server had an internal error."},
            )
        finally:
            self._bus.forget(run_id)

    async def expire(self, run_id: str) -> None:
        """End a run nobody is executing (queued, or waiting for outputs) at its deadline."""
        # No claim to fence with: the status condition keeps it off a run a worker has started.
        await self._end(None, run_id, "expired", only_from=("queued", "requires_action"))

    async def expire_idle_runs(self) -> None:
        """The sweeper's pass: expire every idle run whose deadline has passed."""
        async with self._db.read() as conn:
            candidates = await run_store.expired_idle_runs(conn, self._clock())
        for run in candidates:
            await self.expire(run["id"])

    def _write(self, claim: Claim | None) -> AbstractAsyncContextManager[Conn]:
        """A write transaction of the attempt `claim`: it raises `LeaseLost` (writing nothing)
        once the job is no longer this attempt's. None: a write by no attempt (the sweeper)."""
        if claim is None:
            return self._db.write()
        return job_store.fenced_write(self._db, claim)

    # --- the loop ---------------------------------------------------------------------------

    async def _execute(self, run_id: str, claim: Claim) -> None:
        now = self._clock()
        # One statement in the common case: start the run if it is still startable.
        async with self._write(claim) as conn:
            run = await run_store.start_run(conn, run_id, now)
        if run is None:
            async with self._db.read() as conn:
                current = await run_store.get_run(conn, run_id)
            if current is not None and current["status"] == "cancelling":
                await self._end(claim, run_id, "cancelled")
            return  # deleted, finished, or waiting for outputs: nothing to do
        if now >= run["expires_at"]:
            await self._end(claim, run_id, "expired")
            return
        if claim.attempt > self._config.max_attempts:
            await self._end(
                claim,
                run_id,
                "failed",
                error={
                    "code": "server_error",
                    "message": f"The run was interrupted {claim.attempt - 1} times and was "
                    "abandoned.",
                },
            )
            return
        if claim.attempt > 1:
            await self._discard_unfinished(claim, run_id)
        self._publish_run(run, "thread.run.in_progress")

        if code_interpreter.enabled(run["tools"]) and self._code.unavailable_reason:
            await self._fail_code_interpreter(claim, run_id, self._code.unavailable_reason)
            return
        resolved = self._router.resolve(run["model"])
        if resolved is None:
            await self._end(
                claim,
                run_id,
                "failed",
                error={
                    "code": "server_error",
                    "message": f"The model '{run['model']}' is not configured on this server: set "
                    "ASSISTANTD_UPSTREAM_BASE_URL (or OPENAI_BASE_URL / OPENAI_API_KEY), or add a "
                    "[models] route.",
                },
            )
            return
        # The first turn uses the row just written rather than reading it back; a cancel
        # meanwhile reaches the turn through the bus.
        fresh: Mapping[Any, Any] | None = run
        for _ in range(self._config.max_turns):
            outcome = await self._turn(claim, run_id, resolved, fresh)
            fresh = None
            if outcome != "continue":
                return
        await self._end(
            claim,
            run_id,
            "failed",
            error={
                "code": "server_error",
                "message": "The run exceeded the number of model turns.",
            },
        )

    async def _turn(
        self, claim: Claim, run_id: str, resolved: Any, run: Mapping[Any, Any] | None
    ) -> str:
        """One model call (`run`: the run's current row, if the caller has it). Returns
        "continue" to call the model again, else "done"."""
        route, provider = resolved
        async with self._db.read() as conn:
            if run is None:
                run = await run_store.get_run(conn, run_id)
            if run is None:
                return "done"
            steps: list[Mapping[Any, Any]] = list(await run_store.steps_of(conn, run_id))
        if run["status"] != "in_progress":
            if run["status"] == "cancelling":
                await self._end(claim, run_id, "cancelled")
            return "done"
        if engine_search.searches(route, run, steps):
            searched = await self._engine_search.search(claim, run)
            steps = [*steps, searched] if searched is not None else steps
        usage = dict(run["usage"] or {"prompt_tokens": 0, "completion_tokens": 0})
        budget = route.context_length - min(_ANSWER_RESERVE, route.context_length // 4)
        if run["max_prompt_tokens"] is not None:
            budget = min(budget, run["max_prompt_tokens"] - usage["prompt_tokens"])
        try:
            # Read, converted and counted in short stretches: a long thread must not hold the
            # event loop (the SQLite driver and the tokenizer never yield on their own).
            built = await build_run_prompt(
                self._db, self._images, self._counter, run=run, steps=steps, budget=budget
            )
        except PromptTooLong as exc:
            if run["max_prompt_tokens"] is not None:
                await self._end(claim, run_id, "incomplete", incomplete="max_prompt_tokens")
            else:
                await self._end(
                    claim,
                    run_id,
                    "failed",
                    error={
                        "code": "invalid_prompt",
                        "message": f"The conversation does not fit the model's context: {exc}.",
                    },
                )
            return "done"
        prompt, own = built.prompt, built.own
        lacking = route.missing_capability(
            tools=bool(chat_tools(run["tools"])),
            images=any(m.get("type") == "image_url" for m in _parts(prompt.messages)),
            response_format=chat_response_format(run["response_format"]) is not None,
        )
        if lacking is not None:
            await self._end(
                claim,
                run_id,
                "failed",
                error={
                    "code": "invalid_prompt",
                    "message": f"The model '{run['model']}' is configured without {lacking}, "
                    "which this run needs.",
                },
            )
            return "done"
        max_tokens = None
        if run["max_completion_tokens"] is not None:
            max_tokens = run["max_completion_tokens"] - usage["completion_tokens"]
            if max_tokens <= 0:
                await self._end(claim, run_id, "incomplete", incomplete="max_completion_tokens")
                return "done"
        request = ChatRequest(
            model=route.model_for(run["model"]),
            messages=prompt.messages,
            tools=chat_tools(run["tools"]),
            tool_choice=chat_tool_choice(turn_tool_choice(run["tool_choice"], steps)),
            parallel_tool_calls=run["parallel_tool_calls"] if run["tools"] else None,
            temperature=run["temperature"],
            top_p=run["top_p"],
            max_tokens=max_tokens,
            response_format=chat_response_format(run["response_format"]),
            reasoning_effort=run["reasoning_effort"],
        )
        request = engine_search.shape(route, steps, request)
        turn = Turn(
            citations=CitationScanner(sources_of_steps(steps), paths_of_steps(steps)),
            images=unshown_images(steps, own.values()),
        )
        turn.search_calls_before = sum(
            1
            for step in steps
            if step["step_details"].get("type") == "tool_calls"
            for item in step["step_details"]["tool_calls"]
            if item["type"] == "file_search"
        )
        try:
            await self._stream_turn(claim, run, provider, request, turn)
        except _Stop as stop:
            await self._end(claim, run_id, stop.status, turn=turn)
            return "done"
        except ProviderError as exc:
            await self._end(
                claim, run_id, "failed", error={"code": exc.code, "message": exc.message}, turn=turn
            )
            return "done"
        turn_usage = {
            "prompt_tokens": turn.prompt_tokens
            if turn.prompt_tokens is not None
            else prompt.tokens,
            "completion_tokens": turn.completion_tokens
            if turn.completion_tokens is not None
            else self._counter.text(turn.text)
            + sum(self._counter.text(c.arguments) for c in turn.calls.values()),
        }
        usage = {k: usage[k] + turn_usage[k] for k in ("prompt_tokens", "completion_tokens")}
        return await self._finish_turn(claim, run, turn, turn_usage, usage, max_tokens)

    async def _stream_turn(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        provider: Any,
        request: ChatRequest,
        turn: Turn,
    ) -> None:
        """Call the model (retrying while nothing was streamed yet) and publish fragments."""
        cancel = self._bus.cancel_signal(run["id"])
        next_check = time.monotonic() + _STATUS_CHECK_SECONDS
        for attempt in range(self._config.retries + 1):
            try:
                async for delta in provider.stream(request):
                    if cancel.is_set():
                        raise _Stop("cancelled")
                    if time.monotonic() >= next_check:
                        await self._check_still_running(claim, run)
                        next_check = time.monotonic() + _STATUS_CHECK_SECONDS
                    if delta.usage is not None:
                        turn.prompt_tokens = delta.usage.prompt_tokens
                        turn.completion_tokens = delta.usage.completion_tokens
                    # The model's text is stored as it streams: made storable once, here
                    # (a NUL, which PostgreSQL cannot hold, becomes U+FFFD on both databases).
                    if delta.content:
                        await self._on_text(claim, run, turn, storable(delta.content))
                    for call in delta.tool_calls:
                        await self._on_tool_call(claim, run, turn, storable_call(call))
                    if (delta.content or delta.tool_calls) and self._bus.listening(run["id"]):
                        # Let the streams send this fragment now: SQLite calls never yield, so
                        # a burst of chunks would otherwise be held until the turn is written.
                        await asyncio.sleep(0)
                    if delta.finish_reason:
                        turn.finish_reason = delta.finish_reason
                return
            except ProviderError as exc:
                produced = bool(turn.text or turn.calls)
                if produced:
                    raise ProviderError(
                        "server_error",
                        f"The model's answer was cut off: {exc.message}",
                        retryable=False,
                    ) from exc
                if not exc.retryable or attempt >= self._config.retries:
                    raise
                pause = self._config.retry_base_seconds * (2**attempt)
                log.warning(
                    "run_id=%s upstream error (%s), retry %d in %.2fs",
                    run["id"],
                    exc.message,
                    attempt + 1,
                    pause,
                )
                await self._sleep_unless_stopped(claim, run, pause)

    async def _sleep_unless_stopped(
        self, claim: Claim, run: Mapping[Any, Any], seconds: float
    ) -> None:
        cancel = self._bus.cancel_signal(run["id"])
        try:
            await asyncio.wait_for(cancel.wait(), timeout=seconds)
        except TimeoutError:
            await self._check_still_running(claim, run)
            return
        raise _Stop("cancelled")

    async def _check_still_running(self, claim: Claim, run: Mapping[Any, Any]) -> None:
        if self._clock() >= run["expires_at"]:
            raise _Stop("expired")
        async with self._db.read() as conn:
            current = await run_store.get_run(conn, run["id"])
            # A stale attempt stops streaming here rather than at its next write.
            if not await job_store.holds(conn, claim, lock=False):
                raise LeaseLost(claim)
        if current is None:
            raise _Stop("deleted")
        if current["status"] == "cancelling":
            raise _Stop("cancelled")

    # --- streaming pieces -------------------------------------------------------------------

    async def _on_text(
        self, claim: Claim, run: Mapping[Any, Any], turn: Turn, fragment: str
    ) -> None:
        first = turn.message_id is None
        if first:
            await self._open_message(claim, run, turn)
        turn.text += fragment
        self._publish_text(run, turn, fragment, turn.citations.feed(turn.text), first=first)

    def _publish_text(
        self,
        run: Mapping[Any, Any],
        turn: Turn,
        fragment: str | None,
        cited: list[dict[str, Any]],
        *,
        first: bool = False,
    ) -> None:
        """A text delta: the fragment and the annotations it completed (indices continue the
        message's annotation list). The text part follows the message's image parts."""
        if not self._bus.listening(run["id"]):
            return
        text: dict[str, Any] = {} if fragment is None else {"value": fragment}
        if first or cited:
            before = len(turn.citations.annotations) - len(cited)
            text["annotations"] = [
                {"index": before + offset, **item} for offset, item in enumerate(cited)
            ]
        part = {"index": len(turn.images), "type": "text", "text": text}
        self._bus.publish(
            run["id"],
            "thread.message.delta",
            {
                "id": turn.message_id,
                "object": "thread.message.delta",
                "delta": {"content": [part]},
            },
        )

    async def _open_message(self, claim: Claim, run: Mapping[Any, Any], turn: Turn) -> None:
        now = self._clock()
        turn.message_id = new_id("message")
        turn.message_step_id = new_id("step")
        message = {
            "id": turn.message_id,
            "project_id": run["project_id"],
            "thread_id": run["thread_id"],
            "created_at": now,
            "role": "assistant",
            "status": "in_progress",
            "content": image_parts(turn.images),
            "attachments": [],
            "metadata": {},
            "assistant_id": run["assistant_id"],
            "run_id": run["id"],
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
        }
        step = step_row(
            run,
            turn.message_step_id,
            now,
            "message_creation",
            {"type": "message_creation", "message_creation": {"message_id": turn.message_id}},
        )
        async with self._write(claim) as conn:
            await conn.execute(_INSERT_STEP, step)
            await conn.execute(_INSERT_MESSAGE, message)
        self._publish_step(step, "thread.run.step.created")
        self._publish_step(step, "thread.run.step.in_progress")
        self._publish_message(message, "thread.message.created")
        self._publish_message(message, "thread.message.in_progress")
        if turn.images:
            parts = [{"index": i, **part} for i, part in enumerate(image_parts(turn.images))]
            self._bus.publish(
                run["id"],
                "thread.message.delta",
                {
                    "id": turn.message_id,
                    "object": "thread.message.delta",
                    "delta": {"role": "assistant", "content": parts},
                },
            )

    async def _on_tool_call(
        self, claim: Claim, run: Mapping[Any, Any], turn: Turn, delta: Any
    ) -> None:
        if turn.tool_step_id is None:
            turn.tool_step_id = new_id("step")
            step = step_row(
                run,
                turn.tool_step_id,
                self._clock(),
                "tool_calls",
                {"type": "tool_calls", "tool_calls": []},
            )
            async with self._write(claim) as conn:
                await conn.execute(_INSERT_STEP, step)
            self._publish_step(step, "thread.run.step.created")
            self._publish_step(step, "thread.run.step.in_progress")
        call = turn.calls.get(delta.index)
        if call is None:
            # Our own ids and contiguous indices, whatever the upstream uses.
            call = Call(index=len(turn.calls), id=new_id("call"))
            turn.calls[delta.index] = call
        if delta.name:
            call.name += delta.name
        call.arguments += delta.arguments
        if not call.name:
            return  # announce a call only once its name is known
        server_side = self._runs_itself(run, call.name)
        code = call.code.feed(delta.arguments) if call.name == code_interpreter.NAME else ""
        if call.announced:
            if call.name == code_interpreter.NAME and code:
                item: dict[str, Any] = {
                    "index": call.index,
                    "type": code_interpreter.NAME,
                    code_interpreter.NAME: {"input": code},
                }
            elif not delta.arguments or server_side:
                return
            else:
                item = {
                    "index": call.index,
                    "type": "function",
                    "function": {"arguments": delta.arguments},
                }
        elif server_side and call.name == code_interpreter.NAME:
            call.announced = True
            item = {
                "index": call.index,
                "id": call.id,
                "type": code_interpreter.NAME,
                code_interpreter.NAME: {"input": code, "outputs": []},
            }
        elif server_side:
            call.announced = True
            item = {"index": call.index, "id": call.id, "type": "file_search", "file_search": {}}
        else:
            call.announced = True
            item = {
                "index": call.index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments, "output": None},
            }
        self._bus.publish(
            run["id"],
            "thread.run.step.delta",
            {
                "id": turn.tool_step_id,
                "object": "thread.run.step.delta",
                "delta": {"step_details": {"type": "tool_calls", "tool_calls": [item]}},
            },
        )

    # --- the end of a turn ------------------------------------------------------------------

    async def _finish_turn(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        turn: Turn,
        turn_usage: dict[str, int],
        usage: dict[str, int],
        max_tokens: int | None,
    ) -> str:
        run_id = run["id"]
        now = self._clock()
        cut_by_budget = turn.finish_reason == "length"
        if turn.message_id is None and not turn.calls:
            await self._open_message(claim, run, turn)  # an empty answer is still an answer
        if turn.message_id is not None:
            incomplete = cut_by_budget and not turn.calls
            late = turn.citations.finish(turn.text)
            if late:
                self._publish_text(run, turn, None, late)
            values: dict[str, Any] = {
                "content": [
                    *image_parts(turn.images),
                    {
                        "type": "text",
                        "text": {"value": turn.text, "annotations": turn.citations.annotations},
                    },
                ],
            }
            if incomplete:
                values.update(
                    status="incomplete",
                    incomplete_at=now,
                    incomplete_details={"reason": "max_tokens"},
                )
            else:
                values.update(status="completed", completed_at=now)
            # A turn that also called tools reports its usage once, on the tool step.
            step_usage = {"prompt_tokens": 0, "completion_tokens": 0} if turn.calls else turn_usage
            # The common ending (a plain answer) completes message, step and run in one
            # transaction; the run only if nobody cancelled it meanwhile.
            finishing = not turn.calls and not cut_by_budget
            run_values: dict[str, Any] = {"usage": usage}
            if finishing:
                run_values.update(status="completed", completed_at=now, required_action=None)
            async with self._write(claim) as conn:
                message = await run_store.set_message(conn, turn.message_id, values)
                assert turn.message_step_id is not None
                step = await run_store.set_step(
                    conn,
                    turn.message_step_id,
                    {"status": "completed", "completed_at": now, "usage": step_usage},
                )
                ended = await run_store.set_run(
                    conn, run_id, run_values, *(("in_progress",) if finishing else ())
                )
            if message is not None:
                self._publish_message(
                    message,
                    "thread.message.incomplete" if incomplete else "thread.message.completed",
                )
            if step is not None:
                self._publish_step(step, "thread.run.step.completed")
            if finishing:
                if ended is not None:
                    self._publish_run(ended, "thread.run.completed")
                else:  # cancelled while the answer was being written
                    await self._end(claim, run_id, "cancelled")
                return "done"
        if not turn.calls:
            if cut_by_budget:
                await self._end(claim, run_id, "incomplete", incomplete="max_completion_tokens")
            else:
                await self._end(claim, run_id, "completed")
            return "done"
        return await self._finish_tool_calls(claim, run, turn, turn_usage, usage)

    async def _finish_tool_calls(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        turn: Turn,
        turn_usage: dict[str, int],
        usage: dict[str, int],
    ) -> str:
        run_id = run["id"]
        calls = sorted(turn.calls.values(), key=lambda c: c.index)
        known = {t["function"]["name"] for t in run["tools"] if t["type"] == "function"}
        problems = {
            c.id: None if self._runs_itself(run, c.name) else call_problem(c, known) for c in calls
        }
        details: dict[str, Any] = {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments or "{}", "output": None},
                }
                for c in calls
            ],
        }
        assert turn.tool_step_id is not None
        if any(problems.values()):
            # The client never sees a malformed call: the server answers every call of this
            # turn with an explanation and lets the model try again.
            for position, call in enumerate(calls):
                problem = problems[call.id]
                output = (
                    f"error: {problem}"
                    if problem
                    else "error: not executed because another call in the same turn was invalid; "
                    "call it again"
                )
                if call.name == code_interpreter.NAME and self._runs_itself(run, call.name):
                    details["tool_calls"][position] = code_interpreter.not_run_item(
                        call.id, call.arguments, output
                    )
                elif self._runs_itself(run, call.name):
                    details["tool_calls"][position] = not_run_item(
                        run, call.id, call.arguments, output
                    )
                else:
                    details["tool_calls"][position]["function"]["output"] = output
        else:
            # Calls the server runs itself are answered now; the client gets the rest.
            search_no = turn.search_calls_before
            for position, call in enumerate(calls):
                if not self._runs_itself(run, call.name):
                    continue
                if call.name == code_interpreter.NAME:
                    try:
                        details["tool_calls"][position] = await self._code.run(
                            run, call.id, call.arguments, self._log_publisher(run, turn, call)
                        )
                    except CodeInterpreterUnavailable as exc:
                        await self._fail_code_interpreter(claim, run_id, str(exc))
                        return "done"
                    continue
                details["tool_calls"][position] = await self._file_search.run(
                    run, call.id, search_no, call.arguments
                )
                search_no += 1
        now = self._clock()
        client_calls = [c for c in details["tool_calls"] if c["type"] == "function"]
        if any(problems.values()) or not client_calls:
            async with self._write(claim) as conn:
                step = await run_store.set_step(
                    conn,
                    turn.tool_step_id,
                    {
                        "status": "completed",
                        "completed_at": now,
                        "step_details": details,
                        "usage": turn_usage,
                    },
                )
                await run_store.set_run(conn, run_id, {"usage": usage})
            if step is not None:
                self._publish_step(step, "thread.run.step.completed")
            return "continue"
        required = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": item["id"],
                        "type": "function",
                        "function": {
                            "name": item["function"]["name"],
                            "arguments": item["function"]["arguments"],
                        },
                    }
                    for item in client_calls
                ]
            },
        }
        async with self._write(claim) as conn:
            await run_store.set_step(
                conn, turn.tool_step_id, {"step_details": details, "usage": turn_usage}
            )
            updated = await run_store.set_run(
                conn,
                run_id,
                {"status": "requires_action", "required_action": required, "usage": usage},
                "in_progress",
            )
        if updated is None:
            await self._end(claim, run_id, "cancelled")
            return "done"
        self._publish_run(updated, "thread.run.requires_action")
        return "done"

    def _runs_itself(self, run: Mapping[Any, Any], name: str) -> bool:
        """A call the engine executes (file_search, code_interpreter) rather than handing to
        the client."""
        if name == file_search.NAME:
            return file_search.tool_config(run["tools"]) is not None
        return name == code_interpreter.NAME and code_interpreter.enabled(run["tools"])

    def _log_publisher(self, run: Mapping[Any, Any], turn: Turn, call: Call) -> Any:
        """Streams a code_interpreter call's output as it comes, as `logs` deltas of one
        output (index 0): the SDK concatenates the fragments."""
        started = False

        def publish(fragment: str) -> None:
            nonlocal started
            if not fragment:
                return
            output: dict[str, Any] = {"index": 0, "logs": fragment}
            if not started:
                output["type"] = "logs"
                started = True
            self._bus.publish(
                run["id"],
                "thread.run.step.delta",
                {
                    "id": turn.tool_step_id,
                    "object": "thread.run.step.delta",
                    "delta": {
                        "step_details": {
                            "type": "tool_calls",
                            "tool_calls": [
                                {
                                    "index": call.index,
                                    "type": code_interpreter.NAME,
                                    code_interpreter.NAME: {"outputs": [output]},
                                }
                            ],
                        }
                    },
                },
            )

        return publish

    async def _fail_code_interpreter(self, claim: Claim, run_id: str, reason: str) -> None:
        await self._end(
            claim,
            run_id,
            "failed",
            error={
                "code": "server_error",
                "message": f"The code_interpreter tool is not available on this server: {reason}",
            },
        )

    # --- endings ----------------------------------------------------------------------------

    async def _end(
        self,
        claim: Claim | None,
        run_id: str,
        status: str,
        *,
        error: dict[str, str] | None = None,
        incomplete: str | None = None,
        turn: Turn | None = None,
        only_from: tuple[str, ...] = (),
    ) -> None:
        """Bring the run to `status` with its open steps and messages, then publish it all
        (with `only_from`: only if the run is in one of those states)."""
        if status == "deleted":
            return
        now = self._clock()
        step_status, step_stamp, message_reason = {
            "completed": ("completed", "completed_at", None),
            "incomplete": ("completed", "completed_at", "max_tokens"),
            "cancelled": ("cancelled", "cancelled_at", "run_cancelled"),
            "failed": ("failed", "failed_at", "run_failed"),
            "expired": ("expired", "expired_at", "run_expired"),
        }[status]
        run_stamp = {
            "completed": "completed_at",
            "incomplete": None,
            "cancelled": "cancelled_at",
            "failed": "failed_at",
            "expired": None,
        }[status]
        partial_text = {turn.message_id: turn.text} if turn and turn.message_id else {}
        closed_messages: list[Any] = []
        closed_steps: list[Any] = []
        async with self._write(claim) as conn:
            current = await run_store.get_run(conn, run_id)
            if current is None or current["status"] in (
                "completed",
                "failed",
                "cancelled",
                "expired",
                "incomplete",
            ):
                return
            if only_from and current["status"] not in only_from:
                return
            for step in await run_store.steps_of(conn, run_id):
                if step["status"] != "in_progress":
                    continue
                values: dict[str, Any] = {"status": step_status, step_stamp: now}
                if status == "failed" and error is not None:
                    values["last_error"] = error
                closed_steps.append(await run_store.set_step(conn, step["id"], values))
                message_id = message_of(step)
                if message_id is not None and message_reason is not None:
                    text = partial_text.get(message_id, "")
                    closed_messages.append(
                        await run_store.set_message(
                            conn,
                            message_id,
                            {
                                "status": "incomplete",
                                "incomplete_at": now,
                                "incomplete_details": {"reason": message_reason},
                                "content": [
                                    {"type": "text", "text": {"value": text, "annotations": []}}
                                ]
                                if text
                                else [],
                            },
                        )
                    )
            run_values: dict[str, Any] = {"status": status, "required_action": None}
            if run_stamp:
                run_values[run_stamp] = now
            if error is not None:
                run_values["last_error"] = error
            if incomplete is not None:
                run_values["incomplete_details"] = {"reason": incomplete}
            if current["usage"] is None:
                run_values["usage"] = {"prompt_tokens": 0, "completion_tokens": 0}
            ended = await run_store.set_run(conn, run_id, run_values)
        for message in closed_messages:
            if message is not None:
                self._publish_message(message, "thread.message.incomplete")
        for step in closed_steps:
            if step is not None:
                self._publish_step(step, f"thread.run.step.{step['status']}")
        if ended is not None:
            self._publish_run(ended, f"thread.run.{status}")
            log.info("run_id=%s ended %s", run_id, status)

    async def _discard_unfinished(self, claim: Claim, run_id: str) -> None:
        """A resumed run starts its current turn again: drop what the lost attempt left open."""
        async with self._write(claim) as conn:
            for step in await run_store.steps_of(conn, run_id):
                if step["status"] != "in_progress":
                    continue
                if step["type"] == "tool_calls" and awaits_outputs(step):
                    continue
                message_id = message_of(step)
                if message_id is not None:
                    await conn.execute(delete(messages).where(messages.c.id == message_id))
                await conn.execute(delete(run_steps).where(run_steps.c.id == step["id"]))

    # --- publishing -------------------------------------------------------------------------

    # An object is converted only when a stream follows the run: most runs are polled, and
    # building and dumping the wire models was a measurable share of a run's CPU.

    def _publish_run(self, row: Mapping[Any, Any], event: str) -> None:
        if self._bus.listening(row["id"]):
            self._bus.publish(row["id"], event, run_from_row(row).model_dump(mode="json"))

    def _publish_step(self, row: Mapping[Any, Any], event: str) -> None:
        if self._bus.listening(row["run_id"]):
            self._bus.publish(row["run_id"], event, step_from_row(row).model_dump(mode="json"))

    def _publish_message(self, row: Mapping[Any, Any], event: str) -> None:
        if self._bus.listening(row["run_id"]):
            self._bus.publish(row["run_id"], event, message_from_row(row).model_dump(mode="json"))


def _parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [part for m in messages if isinstance(m.get("content"), list) for part in m["content"]]


def storable_call(call: ToolCallDelta) -> ToolCallDelta:
    """A tool-call fragment whose name and arguments the databases can store."""
    name = storable(call.name) if call.name else call.name
    arguments = storable(call.arguments)
    if name == call.name and arguments == call.arguments:
        return call
    return dataclasses.replace(call, name=name, arguments=arguments)
