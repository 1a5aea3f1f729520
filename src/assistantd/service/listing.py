"""Turn wire list parameters into store page requests and store pages into list envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from assistantd.errors import InvalidRequestError
from assistantd.store.pagination import CursorNotFound, Page, PageRequest
from assistantd.wire.base import ListPage, ListQuery


class Identified(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=Identified)


def page_request(query: ListQuery) -> PageRequest:
    return PageRequest(limit=query.limit, order=query.order, after=query.after, before=query.before)


@asynccontextmanager
async def cursor_errors() -> AsyncIterator[None]:
    """Report an unknown `after`/`before` id as a 400 naming the parameter."""
    try:
        yield
    except CursorNotFound as exc:
        raise InvalidRequestError(
            f"Invalid '{exc.param}': no object with id '{exc.value}' in this list.",
            param=exc.param,
            code="invalid_cursor",
        ) from exc


def to_list(page: Page, convert: Callable[[Mapping[Any, Any]], T]) -> ListPage[T]:
    items = [convert(row) for row in page.rows]
    return ListPage(
        data=items,
        first_id=items[0].id if items else None,
        last_id=items[-1].id if items else None,
        has_more=page.has_more,
    )
