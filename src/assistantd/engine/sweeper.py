"""The periodic sweeper: runs housekeeping passes (expire idle runs, delete expired files) on a
timer, each pass isolated so one failure never stops the others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("assistantd.engine")

SweepPass = Callable[[], Awaitable[object]]


class Sweeper:
    def __init__(self, passes: Sequence[tuple[str, SweepPass]], interval_seconds: float) -> None:
        self._passes = list(passes)
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="assistantd-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            for name, sweep in self._passes:
                try:
                    await sweep()
                except Exception:  # the sweeper must survive a failed pass
                    log.exception("sweep pass %s failed", name)
