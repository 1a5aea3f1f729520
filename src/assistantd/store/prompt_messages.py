"""The messages a run's prompt is built from: the thread's history newest first, one page at a
time (so a long thread is read in short statements), and the run's own messages."""

from __future__ import annotations

from sqlalchemy import Integer, RowMapping, Text, bindparam, cast, select

from assistantd.store.database import Conn
from assistantd.store.tables import messages

# Larger than any `seq`: the first page of a thread reads from its newest message.
NEWEST = 2**62

# Only what a prompt needs, and the content as JSON text for the caller to decode a row at a
# time: decoding every JSON column of a long thread's rows inside one fetch held the event loop
# for most of the time the thread took to read.
_COLUMNS = (messages.c.seq, messages.c.id, messages.c.role)

_HISTORY_PAGE = (
    select(*_COLUMNS, cast(messages.c.content, Text).label("content_json"))
    .where(
        messages.c.thread_id == bindparam("thread_id"),
        messages.c.seq < bindparam("before_seq"),
        messages.c.run_id.is_distinct_from(bindparam("run_id")),
    )
    .order_by(messages.c.seq.desc())
    .limit(bindparam("limit", type_=Integer))
)
_LAST_USER = (
    select(messages.c.content)
    .where(messages.c.thread_id == bindparam("thread_id"), messages.c.role == "user")
    .order_by(messages.c.seq.desc())
    .limit(1)
)
_RUN_MESSAGES = (
    select(*_COLUMNS, messages.c.content, messages.c.run_id)
    .where(messages.c.thread_id == bindparam("thread_id"), messages.c.run_id == bindparam("run_id"))
    .order_by(messages.c.seq)
)


async def history_page(
    conn: Conn, thread_id: str, run_id: str, before_seq: int, limit: int
) -> list[RowMapping]:
    """Up to `limit` messages of the thread older than `before_seq` that are not the run's own,
    newest first: seq, id, role and `content_json`, the content as JSON text."""
    params = {"thread_id": thread_id, "run_id": run_id, "before_seq": before_seq, "limit": limit}
    return list((await conn.execute(_HISTORY_PAGE, params)).mappings().all())


async def run_messages(conn: Conn, thread_id: str, run_id: str) -> list[RowMapping]:
    """The messages this run wrote (seq, id, role, content, run_id), oldest first."""
    params = {"thread_id": thread_id, "run_id": run_id}
    return list((await conn.execute(_RUN_MESSAGES, params)).mappings().all())


async def last_user_text(conn: Conn, thread_id: str) -> str:
    """The text of the thread's newest user message (its text parts, joined); "" if none."""
    content = (await conn.execute(_LAST_USER, {"thread_id": thread_id})).scalar()
    parts = content if isinstance(content, list) else []
    return "\n".join(
        str(part["text"]["value"])
        for part in parts
        if isinstance(part, dict) and part.get("type") == "text"
    )
