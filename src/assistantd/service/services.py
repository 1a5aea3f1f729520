"""Everything the HTTP layer may call, built once at start-up from the settings and the database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from assistantd.clock import Clock, system_clock
from assistantd.engine.bus import EventBus
from assistantd.engine.executor import EngineConfig, RunExecutor
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.worker import WorkerPool
from assistantd.providers.routing import ModelRouter
from assistantd.service.assistants import AssistantService
from assistantd.service.auth import AuthService
from assistantd.service.messages import MessageService
from assistantd.service.rate_limit import RateLimiter
from assistantd.service.runs import RunService, RunSettings
from assistantd.service.threads import ThreadService
from assistantd.settings import Settings
from assistantd.store.database import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    auth: AuthService
    rate_limiter: RateLimiter
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService


@dataclass(frozen=True)
class Engine:
    router: ModelRouter
    pool: WorkerPool


def build_engine(settings: Settings, db: Database, bus: EventBus, clock: Clock) -> Engine:
    router = ModelRouter.from_settings(settings, os.environ)
    executor = RunExecutor(
        db,
        bus,
        router,
        TokenCounter(),
        EngineConfig(
            retries=settings.upstream_retries,
            retry_base_seconds=settings.upstream_retry_base_seconds,
        ),
        clock,
    )
    pool = WorkerPool(
        db,
        executor,
        concurrency=settings.workers,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        clock=clock,
    )
    return Engine(router=router, pool=pool)


def build_services(
    settings: Settings, db: Database, engine: Engine, bus: EventBus, clock: Clock = system_clock
) -> Services:
    return Services(
        settings=settings,
        auth=AuthService(db, clock, cache_seconds=settings.auth_cache_seconds),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        assistants=AssistantService(db, clock),
        threads=ThreadService(db, clock),
        messages=MessageService(db, clock),
        runs=RunService(
            db,
            bus,
            engine.pool,
            RunSettings(
                expires_seconds=settings.run_expires_seconds,
                keepalive_seconds=settings.stream_keepalive_seconds,
            ),
            clock,
        ),
    )


@asynccontextmanager
async def open_services(
    settings: Settings, clock: Clock = system_clock, *, run_workers: bool = True
) -> AsyncIterator[Services]:
    """Connect to the database, build the services, start the run workers (unless told not
    to, e.g. for CLI commands), and stop and close everything at the end."""
    db = Database(settings.resolved_database_url)
    bus = EventBus()
    engine = build_engine(settings, db, bus, clock)
    if run_workers:
        await engine.pool.start()
    try:
        yield build_services(settings, db, engine, bus, clock)
    finally:
        await engine.pool.stop()
        await engine.router.close()
        await db.close()
