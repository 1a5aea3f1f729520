"""A run's prompt built from the database without holding the event loop: the thread's history
is read newest first a page at a time, decoded, converted and counted in short stretches, and
reading stops once the budget is full, so history that cannot fit is never read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from assistantd.engine.images import ImageLoader, image_file_ids
from assistantd.engine.pacing import Pacer
from assistantd.engine.prompt import (
    HistoryFit,
    Prompt,
    keep_limit,
    message_to_chat,
    run_turns_to_chat,
    system_messages,
)
from assistantd.engine.tokens import TokenCounter
from assistantd.store import prompt_messages
from assistantd.store.database import Database

# Rows per read: one page of ordinary messages is read in well under a millisecond, and a
# 10,000-message thread takes 40 statements.
PAGE_ROWS = 256


@dataclass(frozen=True)
class RunPrompt:
    prompt: Prompt
    own: dict[str, Mapping[Any, Any]]  # this run's messages by id


async def build_run_prompt(
    db: Database,
    images: ImageLoader,
    counter: TokenCounter,
    *,
    run: Mapping[Any, Any],
    steps: Sequence[Mapping[Any, Any]],
    budget: int,
    page_rows: int = PAGE_ROWS,
) -> RunPrompt:
    """System + thread history + this run's turns within `budget`. `last_messages` keeps only
    the newest N history messages; `auto` then drops the oldest until the prompt fits (this
    run's own turns are never dropped). Raises `PromptTooLong` when even no history fits."""
    thread_id, run_id = run["thread_id"], run["id"]
    pacer = Pacer()
    # A connection per statement: none is held across a pause, when other turns may need one.
    async with db.read() as conn:
        own_rows = await prompt_messages.run_messages(conn, thread_id, run_id)
    own: dict[str, Mapping[Any, Any]] = {row["id"]: row for row in own_rows}
    system = system_messages(run["instructions"])
    run_turns = run_turns_to_chat(steps, own)
    fixed = await pacer.run(counter.messages_steps(system + run_turns))
    fit = HistoryFit(fixed, budget, keep_limit(run["truncation_strategy"]))
    urls: dict[str, str] = {}
    looked_up: set[str] = set()
    before = prompt_messages.NEWEST
    while not fit.full:
        await pacer.pause_if_due()
        async with db.read() as conn:
            rows = await prompt_messages.history_page(conn, thread_id, run_id, before, page_rows)
        for row in rows:
            message = {"role": row["role"], "content": orjson.loads(row["content_json"])}
            wanted = [i for i in image_file_ids([message]) if i not in looked_up]
            if wanted:
                looked_up.update(wanted)
                urls.update(await images.data_urls(run["project_id"], wanted))
            if not await pacer.run(fit.offer_steps(message_to_chat(message, urls), counter)):
                break
        if len(rows) < page_rows:
            break
        before = rows[-1]["seq"]
    return RunPrompt(fit.prompt(system, run_turns), own)
