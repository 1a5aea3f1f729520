"""Opt-in event-loop lag monitor (`ASSISTANTD_DEBUG_LOOP_LAG_MS`): logs every stretch in which
the loop could not run anything else for at least that many milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping

log = logging.getLogger("assistantd.loop_lag")

ENV_VAR = "ASSISTANTD_DEBUG_LOOP_LAG_MS"
# A wake-up every millisecond: a stretch is measured to within about a millisecond, at a cost
# of ~1-2% of one core, which is acceptable for a debugging aid that is off by default.
_INTERVAL_SECONDS = 0.001


class LoopLagMonitor:
    """A task that sleeps `_INTERVAL_SECONDS` in a loop: how late it wakes is how long the loop
    was kept busy by other callbacks (to within the timer's resolution). Each stretch is logged
    with the CPU time the loop's thread used in it too: on a loaded machine the wall time also
    holds the time the process was not scheduled, which no code of ours can shorten."""

    def __init__(self, threshold_ms: float) -> None:
        self.threshold_ms = threshold_ms
        self.longest_ms = 0.0
        self.longest_cpu_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LoopLagMonitor | None:
        raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
        if not raw:
            return None
        try:
            threshold = float(raw)
        except ValueError:
            log.warning("%s=%r is not a number of milliseconds; the monitor is off", ENV_VAR, raw)
            return None
        return cls(threshold) if threshold > 0 else None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="loop-lag")
        log.warning("loop lag monitor on: logging stretches of %g ms or more", self.threshold_ms)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        log.warning(
            "loop lag monitor off: longest stretch %.1f ms (cpu %.1f ms)",
            self.longest_ms,
            self.longest_cpu_ms,
        )

    async def _watch(self) -> None:
        while True:
            before, before_cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(_INTERVAL_SECONDS)
            late_ms = (time.perf_counter() - before - _INTERVAL_SECONDS) * 1000
            cpu_ms = (time.thread_time() - before_cpu) * 1000
            self.longest_ms = max(self.longest_ms, late_ms)
            self.longest_cpu_ms = max(self.longest_cpu_ms, cpu_ms)
            if late_ms >= self.threshold_ms:
                log.warning("event loop blocked %.1f ms (cpu %.1f ms)", late_ms, cpu_ms)


@contextlib.asynccontextmanager
async def loop_lag_monitor_from_env() -> AsyncIterator[LoopLagMonitor | None]:
    """The monitor, running while the block runs, if `ASSISTANTD_DEBUG_LOOP_LAG_MS` asks."""
    monitor = LoopLagMonitor.from_env()
    if monitor is None:
        yield None
        return
    monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()
