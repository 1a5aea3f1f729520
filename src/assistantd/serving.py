"""Run the API with uvicorn and, once its sockets accept connections (after migrations, the
sandbox probe and the bind), print the start-up banner to stderr and log its summary; or run
a worker process, which executes runs and ingestion and serves no API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from assistantd import __version__
from assistantd.api.app import create_app
from assistantd.api.limits import ConnectionLimits, guarded_protocol
from assistantd.banner import BannerFacts, Listener, banner_summary, banner_text
from assistantd.compose import ProcessRole, open_services
from assistantd.providers.model_file import ModelFileMissing, embedded_model_id, model_path
from assistantd.providers.routing import default_upstream
from assistantd.service.services import Services
from assistantd.settings import Settings

log = logging.getLogger("assistantd")

OnBound = Callable[[Sequence[Any]], Awaitable[None]]


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling `on_bound` with its listening sockets once they are open."""

    def __init__(self, config: uvicorn.Config, on_bound: OnBound) -> None:
        super().__init__(config)
        self._on_bound = on_bound

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            await self._on_bound([sock for server in self.servers for sock in server.sockets])


def serve_api(
    settings: Settings, environ: Mapping[str, str], role: ProcessRole = ProcessRole.ALL
) -> None:
    """Serve until stopped; exits with uvicorn's status 3 if the server could not start."""
    app = create_app(settings, role)

    async def announce(sockets: Sequence[Any]) -> None:
        services: Services = app.state.services  # set by the app's lifespan
        facts = await banner_facts(settings, environ, services, listeners(sockets))
        sys.stderr.write(banner_text(facts))
        sys.stderr.flush()
        log.info("%s", banner_summary(facts))

    limits = ConnectionLimits(
        header_seconds=settings.header_timeout_seconds,
        body_idle_seconds=settings.body_timeout_seconds,
        body_min_bytes_per_second=settings.body_min_bytes_per_second,
        max_connections=settings.max_connections,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(limits),
        timeout_keep_alive=settings.keepalive_seconds,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = _AnnouncingServer(config, announce)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: uvicorn has shut down already
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def listeners(sockets: Sequence[Any]) -> tuple[Listener, ...]:
    """The bound addresses of uvicorn's sockets (asyncio's TransportSocket or plain ones)."""
    found = []
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        dual_stack = sock.family == socket.AF_INET6 and not sock.getsockopt(
            socket.IPPROTO_IPV6, socket.IPV6_V6ONLY
        )
        found.append(Listener(str(host), int(port), dual_stack))
    return tuple(found)


async def banner_facts(
    settings: Settings,
    environ: Mapping[str, str],
    services: Services,
    bound: tuple[Listener, ...],
) -> BannerFacts:
    """What the banner says, from the settings, the environment the router read and the
    started services."""
    upstream = default_upstream(settings, environ)
    embedded = None
    embedded_problem = None
    if upstream is None and settings.embedded_model:
        embedded = embedded_model_id(settings.embedded_model_path)
        try:
            model_path(settings.embedded_model_path)
        except ModelFileMissing as missing:
            embedded_problem = str(missing)
    return BannerFacts(
        version=__version__,
        listeners=bound,
        data_dir=settings.data_dir.resolve(),
        database_url=settings.resolved_database_url,
        upstream=upstream,
        embedded_model=embedded,
        embedded_problem=embedded_problem,
        extra_routes=tuple(settings.models),
        code_interpreter_problem=services.health.code_interpreter_problem,
        keys_exist=await services.auth.any_key(),
        active_keys=await services.auth.active_key_count(),
    )


def run_worker(settings: Settings) -> None:
    """Execute runs and ingestion until SIGTERM or SIGINT, then hand unfinished jobs back."""

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_services(settings, role=ProcessRole.WORKER):
            log.info(
                "worker ready: executing runs and file ingestion from %s",
                settings.resolved_database_url.split("@")[-1],
            )
            await stop.wait()
        log.info("worker stopped")

    asyncio.run(work())
