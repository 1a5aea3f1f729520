"""Build the ASGI application: routers under /v1, middleware, error handlers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from assistantd import __version__
from assistantd.api.errors import install_error_handlers
from assistantd.api.middleware import RequestContextMiddleware
from assistantd.api.routes import (
    assistants,
    files,
    health,
    messages,
    models,
    runs,
    threads,
    vector_stores,
)
from assistantd.compose import ProcessRole, open_services
from assistantd.settings import Settings

log = logging.getLogger("assistantd")


def create_app(settings: Settings, role: ProcessRole = ProcessRole.ALL) -> FastAPI:
    """The services (and their database connections) live as long as the app's lifespan;
    `role` says whether this process also executes runs (`serve --no-workers`: not)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, role=role) as services:
            app.state.services = services
            # "ready" is announced once uvicorn has bound its sockets (see serving.py).
            log.debug("services started")
            yield

    app = FastAPI(
        title="assistantd",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # runs first: its `/threads/runs` must win over `/threads/{thread_id}`. The routes go
    # straight into the app's router rather than through `include_router`, whose included
    # routers are matched layer by layer on every request (a tenth of a request's CPU).
    for module in (health, runs, assistants, threads, messages, files, vector_stores, models):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            methods = sorted(route.methods or ())
            app.add_route("/v1" + route.path, _plain(route.endpoint), methods=methods)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    return app


def _plain(
    endpoint: Callable[..., Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A route endpoint called the plain Starlette way. Ours take the request and their path
    parameters (strings) and read everything else themselves, so FastAPI's per-request
    dependency solving and its exit stack cost a fifth of a small request's CPU for nothing."""

    async def call(request: Request) -> Response:
        return await endpoint(request=request, **request.path_params)

    return call
