"""Everything the HTTP layer may call, built once at start-up from the settings and the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from assistantd.service.assistants import AssistantService
from assistantd.service.auth import AuthService
from assistantd.service.clock import Clock, system_clock
from assistantd.service.messages import MessageService
from assistantd.service.rate_limit import RateLimiter
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


def build_services(settings: Settings, db: Database, clock: Clock = system_clock) -> Services:
    return Services(
        settings=settings,
        auth=AuthService(db, clock),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        assistants=AssistantService(db, clock),
        threads=ThreadService(db, clock),
        messages=MessageService(db, clock),
    )


@asynccontextmanager
async def open_services(settings: Settings, clock: Clock = system_clock) -> AsyncIterator[Services]:
    """Connect to the database, build the services, and close the connections at the end."""
    db = Database(settings.resolved_database_url)
    try:
        yield build_services(settings, db, clock)
    finally:
        await db.close()
