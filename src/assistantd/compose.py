"""The composition root: every service, the engine and their collaborators are built here,
once, from the settings, and handed what they use; nothing is set on them afterwards.

A process has a role (`ProcessRole`): the API with its workers (`serve`), the API alone
(`serve --no-workers`), the workers alone (`worker`), or a command-line tool. On PostgreSQL,
serving and executing processes are linked by LISTEN/NOTIFY (`store/notifications.py`): run
events reach streams in any process, cancels reach the executing worker, and a queued job
wakes idle workers everywhere."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum

from assistantd.clock import Clock, shifted_clock
from assistantd.engine.bus import EventBus
from assistantd.engine.images import ImageLoader
from assistantd.engine.loop_lag import loop_lag_monitor_from_env
from assistantd.engine.route_limits import RouteGate
from assistantd.engine.run import (
    AnswerWriter,
    EngineSearch,
    RetryPolicy,
    RunEndings,
    RunExecutor,
    RunLimits,
    RunParts,
    RunPublisher,
    ToolCallHandler,
    TurnPlanner,
    TurnStreamer,
)
from assistantd.engine.sweeper import Sweeper
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.tools import ServerTools
from assistantd.engine.tools.code_interpreter import CodeInterpreterTool
from assistantd.engine.tools.file_search import FileSearchRunner, FileSearchTool
from assistantd.engine.worker import RUN_JOB, WorkerPool
from assistantd.providers.embeddings import OpenAIEmbedder
from assistantd.providers.routing import ModelRouter
from assistantd.retrieval.embedding import Embedder
from assistantd.retrieval.ingest import INGEST_JOB, Ingestor
from assistantd.retrieval.lazy_embedder import LazyMiniLM
from assistantd.retrieval.search import Searcher
from assistantd.sandbox import BubblewrapBackend, SandboxLimits, SessionManager
from assistantd.sandbox.limits import MIB
from assistantd.service.assistants import AssistantService
from assistantd.service.auth import AuthService
from assistantd.service.files import FileService
from assistantd.service.health import HealthService
from assistantd.service.messages import MessageService
from assistantd.service.models import ModelCatalog
from assistantd.service.rate_limit import RateLimiter
from assistantd.service.resources import ToolResourceBinder
from assistantd.service.run_launch import RunLauncher
from assistantd.service.run_steps import RunStepService
from assistantd.service.runs import RunService
from assistantd.service.services import Services
from assistantd.service.threads import ThreadService
from assistantd.service.vector_store_files import FileBatchService, VectorStoreFileService
from assistantd.service.vector_stores import VectorStoreService
from assistantd.settings import Settings
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database, libpq_url
from assistantd.store.jobs import JOBS_CHANNEL
from assistantd.store.notifications import Notifications

log = logging.getLogger("assistantd")


class ProcessRole(Enum):
    ALL = "all"  # serve: the API and the workers
    API = "api"  # serve --no-workers: runs are executed by other processes
    WORKER = "worker"  # worker: executes runs and ingestion, serves no API
    TOOL = "tool"  # a command-line tool: executes nothing, links to nobody

    @property
    def executes(self) -> bool:
        return self in (ProcessRole.ALL, ProcessRole.WORKER)


@dataclass(frozen=True)
class Engine:
    """The shared resources behind the services, and the background work that uses them."""

    router: ModelRouter
    pool: WorkerPool
    ingest_pool: WorkerPool
    sweeper: Sweeper
    embedder: Embedder
    searcher: Searcher
    files: FileService
    sandbox: BubblewrapBackend
    sessions: SessionManager
    endings: RunEndings
    code_interpreter_problem: str | None  # the sandbox probe's answer (None: it works)

    async def start(self) -> None:
        self.sessions.start_reaper()
        await self.pool.start()
        await self.ingest_pool.start()
        await self.sweeper.start()

    def expect_ingestion(self) -> None:
        """Files were queued for ingestion (or a store made for them): wake the ingestion
        workers, and start loading the local model now rather than in the first batch."""
        if isinstance(self.embedder, LazyMiniLM):
            self.embedder.warm_up()
        self.ingest_pool.wake()

    async def stop(self) -> None:
        await self.sweeper.stop()
        await self.ingest_pool.stop()
        await self.pool.stop()
        await self.sessions.close_all()
        await self.sandbox.aclose()


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding_base_url:
        return OpenAIEmbedder(
            settings.embedding_base_url,
            settings.embedding_api_key,
            settings.embedding_model or "text-embedding-3-small",
            timeout=settings.upstream_timeout_seconds,
        )
    return LazyMiniLM(threads=settings.embedding_threads)


def build_sandbox(settings: Settings) -> tuple[BubblewrapBackend, SessionManager]:
    limits = SandboxLimits(
        memory_bytes=settings.sandbox_memory_mb * MIB,
        output_chars=settings.sandbox_output_chars,
        data_dir_bytes=settings.sandbox_data_mb * MIB,
    )
    backend = BubblewrapBackend(settings.sandbox_python.absolute(), limits=limits)
    sessions = SessionManager(
        backend,
        settings.data_dir.absolute() / "sandbox",
        idle_timeout=settings.sandbox_idle_seconds,
        max_sessions=settings.sandbox_max_sessions,
    )
    return backend, sessions


async def probe_sandbox(sandbox: BubblewrapBackend) -> str | None:
    """Why code_interpreter cannot run here, or None: runs using it fail at once if not."""
    probe = await sandbox.probe()
    if probe.available:
        log.info("code_interpreter available: %s", probe.reason)
        return None
    log.warning("code_interpreter unavailable (runs using it will fail): %s", probe.reason)
    return probe.reason


def build_executor(
    settings: Settings,
    db: Database,
    bus: EventBus,
    clock: Clock,
    router: ModelRouter,
    tools: ServerTools,
    search: FileSearchRunner,
    images: ImageLoader,
    gate: RouteGate,
) -> tuple[RunExecutor, RunEndings]:
    """The run loop with its collaborators; `RunEndings` is shared with cancel and expiry."""
    counter = TokenCounter()
    publisher = RunPublisher(bus)
    endings = RunEndings(db, publisher, clock)
    retry = RetryPolicy(
        retries=settings.upstream_retries, base_seconds=settings.upstream_retry_base_seconds
    )
    streamer = TurnStreamer(db, bus, publisher, clock, tools, retry)
    parts = RunParts(
        planner=TurnPlanner(db, images, counter, tools),
        streamer=streamer,
        answers=AnswerWriter(db, publisher, clock, streamer),
        tool_calls=ToolCallHandler(db, publisher, clock, tools),
        endings=endings,
        search=EngineSearch(db, publisher, clock, search),
        publisher=publisher,
    )
    executor = RunExecutor(db, bus, router, counter, tools, parts, RunLimits(), clock, gate)
    return executor, endings


async def build_engine(
    settings: Settings, db: Database, bus: EventBus, clock: Clock, *, executes: bool
) -> Engine:
    """`executes`: this process runs jobs (its pools execute, and the sandbox is probed now;
    a process that runs nothing need not)."""
    router = ModelRouter.from_settings(settings, os.environ)
    blobs = BlobStore(settings.resolved_files_dir)
    blobs.clear_partial()
    embedder = build_embedder(settings)
    searcher = Searcher(db, embedder)
    files = FileService(db, blobs, clock, settings.max_upload_mb * 1024 * 1024)
    sandbox, sessions = build_sandbox(settings)
    problem = await probe_sandbox(sandbox) if executes else None
    search = FileSearchRunner(db, searcher, clock)
    code = CodeInterpreterTool(
        db,
        blobs,
        sessions,
        clock,
        call_timeout=settings.sandbox_call_timeout_seconds,
        unavailable=problem,
    )
    tools = ServerTools([FileSearchTool(search), code])
    gate = RouteGate(router.group_limits())
    executor, endings = build_executor(
        settings, db, bus, clock, router, tools, search, ImageLoader(db, blobs), gate
    )
    pool = WorkerPool(
        db,
        RUN_JOB,
        executor.execute,
        concurrency=settings.workers,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        gate=gate,
        executes=executes,
    )
    ingestor = Ingestor(
        db,
        blobs,
        embedder,
        clock,
        # One single-threaded batch per embedding thread (see LazyMiniLM); an embeddings
        # upstream gets as many requests at once.
        parallel_batches=settings.embedding_threads,
    )
    ingest_pool = WorkerPool(
        db,
        INGEST_JOB,
        ingestor,
        concurrency=settings.ingest_workers,
        lease_seconds=settings.job_lease_seconds,
        poll_seconds=settings.job_poll_seconds,
        executes=executes,
    )
    sweeper = Sweeper(
        [("expire runs", endings.expire_idle_runs), ("expire files", files.delete_expired)],
        interval_seconds=settings.job_poll_seconds,
    )
    return Engine(
        router=router,
        pool=pool,
        ingest_pool=ingest_pool,
        sweeper=sweeper,
        embedder=embedder,
        searcher=searcher,
        files=files,
        sandbox=sandbox,
        sessions=sessions,
        endings=endings,
        code_interpreter_problem=problem,
    )


def build_services(
    settings: Settings, db: Database, engine: Engine, bus: EventBus, clock: Clock
) -> Services:
    vector_store_service = VectorStoreService(
        db, clock, engine.searcher, engine.expect_ingestion, engine.embedder.name
    )
    resources = ToolResourceBinder(vector_store_service, clock, settings.thread_store_expiry_days)
    launcher = RunLauncher(
        db, bus, engine.pool, settings.stream_keepalive_seconds, engine.router.group_of
    )
    return Services(
        settings=settings,
        auth=AuthService(db, clock, cache_seconds=settings.auth_cache_seconds),
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        assistants=AssistantService(db, clock, resources),
        threads=ThreadService(db, clock, resources, engine.sessions.close),
        messages=MessageService(db, clock, resources),
        runs=RunService(
            db, bus, launcher, settings.run_expires_seconds, clock, resources, engine.endings
        ),
        run_steps=RunStepService(db),
        files=engine.files,
        vector_stores=vector_store_service,
        vector_store_files=VectorStoreFileService(db, clock, engine.expect_ingestion),
        file_batches=FileBatchService(db, clock, engine.expect_ingestion),
        models=ModelCatalog(engine.router, clock()),
        health=HealthService(engine.code_interpreter_problem),
    )


@asynccontextmanager
async def open_services(
    settings: Settings, clock: Clock | None = None, *, role: ProcessRole = ProcessRole.ALL
) -> AsyncIterator[Services]:
    """Connect to the database, build the services, start what the process's `role` runs
    (workers, the link to other processes), and stop and close everything at the end."""
    clock = clock or shifted_clock(settings.clock_offset_seconds)
    db = Database(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    link = None
    if not db.is_sqlite and role is not ProcessRole.TOOL:
        link = Notifications(libpq_url(settings.resolved_database_url))
    bus = EventBus(send=link.send if link is not None else None)
    engine = await build_engine(settings, db, bus, clock, executes=role.executes)
    try:
        if link is not None:
            pools = {engine.pool.kind: engine.pool, engine.ingest_pool.kind: engine.ingest_pool}
            await link.start({**bus.inbound(), JOBS_CHANNEL: _waker(pools)})
        if role.executes:
            await engine.start()
        services = build_services(settings, db, engine, bus, clock)
        # What start-up made (modules, schemas, the tokenizer's tables) lives as long as the
        # process: left to the collector, every full collection walked it all and held the
        # event loop 100-200 ms, at any moment, under any request.
        gc.freeze()
        async with loop_lag_monitor_from_env():
            yield services
    finally:
        await engine.stop()
        if link is not None:
            await link.stop()
        await engine.router.close()
        await db.close()


def _waker(pools: dict[str, WorkerPool]) -> Callable[[str, bool], None]:
    """Wakes the pool of a job kind another process (or this one) announced."""

    def wake(kind: str, own: bool) -> None:
        del own  # this process's own pools were woken already, but waking twice is free
        pool = pools.get(kind)
        if pool is not None and pool.executes:
            pool.wake()

    return wake
