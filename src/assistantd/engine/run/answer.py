"""The end of a turn's answer: its message completed (or incomplete, cut by the token budget)
with the text and annotations the turn streamed, and, when nothing else follows, the run
completed in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.run.endings import Ending
from assistantd.engine.run.fencing import attempt_write
from assistantd.engine.run.outcome import Next, Outcome
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.streaming import TurnStreamer
from assistantd.engine.run.turn import Turn, image_parts
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim
from assistantd.wire.messages import text_part
from assistantd.wire.run_status import RunStatus

_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0}


class AnswerWriter:
    def __init__(
        self, db: Database, publisher: RunPublisher, clock: Clock, streamer: TurnStreamer
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._clock = clock
        self._streamer = streamer

    async def finish(
        self,
        claim: Claim,
        run: Mapping[Any, Any],
        turn: Turn,
        turn_usage: dict[str, int],
        usage: dict[str, int],
    ) -> Outcome:
        """Write the turn's answer; CONTINUE when the turn also called tools (the caller
        handles them next)."""
        now = self._clock()
        cut_by_budget = turn.finish_reason == "length"
        if turn.message_id is None and not turn.calls:
            # An empty answer is still an answer.
            await self._streamer.open_message(claim, run, turn)
        if turn.message_id is None:
            return Next.CONTINUE
        incomplete = cut_by_budget and not turn.calls
        late = turn.citations.finish(turn.text)
        if late:
            self._streamer.publish_text(run, turn, None, late)
        values: dict[str, Any] = {
            "content": [
                *image_parts(turn.images),
                text_part(turn.text, turn.citations.annotations),
            ],
        }
        if incomplete:
            values.update(
                status="incomplete", incomplete_at=now, incomplete_details={"reason": "max_tokens"}
            )
        else:
            values.update(status="completed", completed_at=now)
        # A turn that also called tools reports its usage once, on the tool step.
        step_usage = _NO_USAGE if turn.calls else turn_usage
        # The common ending (a plain answer) completes message, step and run in one
        # transaction; the run only if nobody cancelled it meanwhile.
        finishing = not turn.calls and not cut_by_budget
        async with attempt_write(self._db, claim) as conn:
            message = await run_store.set_message(conn, turn.message_id, values)
            assert turn.message_step_id is not None
            step = await run_store.set_step(
                conn,
                turn.message_step_id,
                {"status": "completed", "completed_at": now, "usage": step_usage},
            )
            if finishing:
                ended = await run_store.move_run(
                    conn,
                    run["id"],
                    RunStatus.COMPLETED,
                    (RunStatus.IN_PROGRESS,),
                    {"usage": usage, "completed_at": now, "required_action": None},
                )
            else:
                await run_store.set_run(conn, run["id"], {"usage": usage})
        if message is not None:
            self._publisher.message(message, "incomplete" if incomplete else "completed")
        if step is not None:
            self._publisher.step(step, "completed")
        if finishing:
            if ended is None:  # cancelled while the answer was being written
                return Ending(RunStatus.CANCELLED)
            self._publisher.run(ended, RunStatus.COMPLETED)
            return Next.DONE
        if turn.calls:
            return Next.CONTINUE
        if cut_by_budget:
            return Ending(RunStatus.INCOMPLETE, incomplete="max_completion_tokens")
        return Ending(RunStatus.COMPLETED)
