"""Streaming one model turn: call the provider (retrying while nothing was streamed yet), open
the answer's message or the turn's tool step as its first fragment arrives, and publish every
fragment as it comes. Fragments are kept in the `Turn` and written when the turn ends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.bus import EventBus
from assistantd.engine.route_limits import RouteBudget
from assistantd.engine.run.endings import Ending
from assistantd.engine.run.fencing import attempt_write
from assistantd.engine.run.function_calls import FunctionCallStream
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.turn import Call, Turn, image_parts, step_row
from assistantd.engine.tools import ServerTools
from assistantd.ids import new_id
from assistantd.providers.base import ChatProvider, ChatRequest, ProviderError, ToolCallDelta
from assistantd.store import jobs as job_store
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim, LeaseLost
from assistantd.store.text import storable
from assistantd.wire import deltas
from assistantd.wire.run_status import RunStatus
from assistantd.wire.run_steps import MessageCreation, MessageCreationDetails, stored_tool_calls

log = logging.getLogger("assistantd.engine")

STATUS_CHECK_SECONDS = 0.5


class Stop(Exception):
    """The run must end now (cancelled, past its deadline, deleted) while a turn streams."""

    def __init__(self, ending: Ending | None) -> None:
        super().__init__(ending.status if ending else "deleted")
        self.ending = ending  # None: the run is gone


_CANCELLED = Ending(RunStatus.CANCELLED)
_EXPIRED = Ending(RunStatus.EXPIRED)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    base_seconds: float = 0.5


class TurnStreamer:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        publisher: RunPublisher,
        clock: Clock,
        tools: ServerTools,
        retry: RetryPolicy,
    ) -> None:
        self._db = db
        self._bus = bus
        self._publisher = publisher
        self._clock = clock
        self._tools = tools
        self._retry = retry

    async def stream(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        provider: ChatProvider,
        request: ChatRequest,
        turn: Turn,
        budget: RouteBudget | None = None,
        prompt_tokens: int = 0,
    ) -> None:
        """Raises `Stop` when the run must end meanwhile, `ProviderError` when the model
        failed (after retries, or once part of its answer was streamed). With the route's
        `budget`, every request (a retry too) first waits for it and spends `prompt_tokens`.

        A cancel stops the turn at once, also while the model has sent nothing yet: the turn
        runs as a task of its own, given up when the run's cancel signal comes first."""
        cancel = self._bus.cancel_signal(run["id"])
        streaming = asyncio.create_task(
            self._stream(claim, run, provider, request, turn, budget, prompt_tokens, cancel)
        )
        cancelled = asyncio.create_task(cancel.wait())
        try:
            await asyncio.wait((streaming, cancelled), return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
            if not streaming.done():
                streaming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await streaming
        if streaming.cancelled():
            raise Stop(_CANCELLED)
        streaming.result()  # its outcome: None, or what it raised

    async def _stream(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        provider: ChatProvider,
        request: ChatRequest,
        turn: Turn,
        budget: RouteBudget | None,
        prompt_tokens: int,
        cancel: asyncio.Event,
    ) -> None:
        next_check = time.monotonic() + STATUS_CHECK_SECONDS
        for attempt in range(self._retry.retries + 1):
            if budget is not None:
                while (pause := budget.wait_seconds()) > 0:
                    await self._sleep_unless_stopped(claim, run, pause)
                budget.spend_request(prompt_tokens)
            try:
                async for delta in provider.stream(request):
                    if cancel.is_set():
                        raise Stop(_CANCELLED)
                    if time.monotonic() >= next_check:
                        await self.check_still_running(claim, run)
                        next_check = time.monotonic() + STATUS_CHECK_SECONDS
                    if delta.usage is not None:
                        turn.prompt_tokens = delta.usage.prompt_tokens
                        turn.completion_tokens = delta.usage.completion_tokens
                    # The model's text is stored as it streams: made storable once, here
                    # (a NUL, which PostgreSQL cannot hold, becomes U+FFFD on both databases).
                    if delta.content:
                        await self._on_text(claim, run, turn, storable(delta.content))
                    for call in delta.tool_calls:
                        await self._on_tool_call(claim, run, turn, storable_call(call))
                    if (delta.content or delta.tool_calls) and self._publisher.listening(run["id"]):
                        # Let the streams send this fragment now: SQLite calls never yield, so
                        # a burst of chunks would otherwise be held until the turn is written.
                        await asyncio.sleep(0)
                    if delta.finish_reason:
                        turn.finish_reason = delta.finish_reason
                return
            except ProviderError as exc:
                if turn.text or turn.calls:
                    raise ProviderError(
                        "server_error",
                        f"The model's answer was cut off: {exc.message}",
                        retryable=False,
                    ) from exc
                if not exc.retryable or attempt >= self._retry.retries:
                    raise
                pause = self._retry.base_seconds * (2**attempt)
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
            await self.check_still_running(claim, run)
            return
        raise Stop(_CANCELLED)

    async def check_still_running(self, claim: Claim, run: Mapping[Any, Any]) -> None:
        if self._clock() >= run["expires_at"]:
            raise Stop(_EXPIRED)
        async with self._db.read() as conn:
            current = await run_store.get_run(conn, run["id"])
            # A stale attempt stops streaming here rather than at its next write.
            if not await job_store.holds(conn, claim, lock=False):
                raise LeaseLost(claim)
        if current is None:
            raise Stop(None)
        if current["status"] == RunStatus.CANCELLING:
            raise Stop(_CANCELLED)

    # --- the answer's text ------------------------------------------------------------------

    async def _on_text(
        self, claim: Claim, run: Mapping[Any, Any], turn: Turn, fragment: str
    ) -> None:
        first = turn.message_id is None
        if first:
            await self.open_message(claim, run, turn)
        turn.text += fragment
        self.publish_text(run, turn, fragment, turn.citations.feed(turn.text), first=first)

    def publish_text(
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
        assert turn.message_id is not None
        self._publisher.text(
            run["id"],
            turn.message_id,
            part=len(turn.images),
            value=fragment,
            annotations=cited if first or cited else None,
            first_annotation=len(turn.citations.annotations) - len(cited),
        )

    async def open_message(self, claim: Claim, run: Mapping[Any, Any], turn: Turn) -> None:
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
        details = MessageCreationDetails(
            message_creation=MessageCreation(message_id=turn.message_id)
        )
        step = step_row(
            run, turn.message_step_id, now, "message_creation", details.model_dump(mode="json")
        )
        async with attempt_write(self._db, claim) as conn:
            await run_store.insert_step(conn, step)
            await run_store.insert_message(conn, message)
        self._publisher.opened_step(step)
        self._publisher.opened_message(message)
        self._publisher.images(run["id"], turn.message_id, turn.images)

    # --- tool calls -------------------------------------------------------------------------

    async def _on_tool_call(
        self, claim: Claim, run: Mapping[Any, Any], turn: Turn, delta: ToolCallDelta
    ) -> None:
        if turn.tool_step_id is None:
            turn.tool_step_id = new_id("step")
            details = stored_tool_calls([])
            step = step_row(run, turn.tool_step_id, self._clock(), "tool_calls", details)
            async with attempt_write(self._db, claim) as conn:
                await run_store.insert_step(conn, step)
            self._publisher.opened_step(step)
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
        shown: deltas.ToolCallDelta | None
        if call.stream is None:
            call.tool = self._tools.of_run(run["tools"]).get(call.name)
            call.stream = call.tool.call_stream() if call.tool else FunctionCallStream(call.name)
            shown = call.stream.announce(call.id, call.index, call.arguments, delta.arguments)
        else:
            shown = call.stream.more(call.index, delta.arguments)
        if shown is not None:
            self._publisher.tool_call(run["id"], turn.tool_step_id, shown)


def storable_call(call: ToolCallDelta) -> ToolCallDelta:
    """A tool-call fragment whose name and arguments the databases can store."""
    name = storable(call.name) if call.name else call.name
    arguments = storable(call.arguments)
    if name == call.name and arguments == call.arguments:
        return call
    return dataclasses.replace(call, name=name, arguments=arguments)
