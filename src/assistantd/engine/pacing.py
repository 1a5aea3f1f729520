"""Run long CPU work on the event loop in short stretches: the work is a generator that yields
between small steps, and `Pacer` lets other callbacks run once a stretch has lasted long enough."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

# Well under the 20 ms a request may wait behind a turn being prepared, and long enough that
# the pauses themselves cost nothing measurable.
SLICE_SECONDS = 0.004


def drain(steps: Generator[None, None, T]) -> T:
    """Run the steps to the end without pausing; their result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


class Pacer:
    """Shared by the parts of one piece of work, so that their stretches add up."""

    def __init__(self, slice_seconds: float = SLICE_SECONDS) -> None:
        self._slice = slice_seconds
        self._since = time.perf_counter()

    async def pause_if_due(self) -> None:
        if time.perf_counter() - self._since >= self._slice:
            await asyncio.sleep(0)
            self._since = time.perf_counter()

    async def run(self, steps: Generator[None, None, T]) -> T:
        """Run the steps, pausing between them whenever the current stretch is used up."""
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: T = done.value
                return result
            await self.pause_if_due()
