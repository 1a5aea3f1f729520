"""/v1/threads/{thread_id}/runs, /v1/threads/runs and run steps."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from assistantd.api.caller import beta_caller, services_of
from assistantd.api.request import list_query, read_body, read_query
from assistantd.api.responses import json_response
from assistantd.api.sse import sse_response
from assistantd.service.run_stream import RunStream
from assistantd.wire.runs import Run, RunCreate, RunUpdate, SubmitToolOutputs, ThreadAndRunCreate

router = APIRouter()

INCLUDE = "include[]"


def _include(request: Request) -> list[str]:
    read_query(request, repeatable=(INCLUDE,))
    return request.query_params.getlist(INCLUDE)


def _started(result: Run | RunStream) -> Response:
    if isinstance(result, RunStream):
        return sse_response(result)
    return json_response(result)


@router.post("/threads/runs")
async def create_thread_and_run(request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, ThreadAndRunCreate)
    return _started(await services_of(request).runs.create_thread_and_run(caller, body))


@router.post("/threads/{thread_id}/runs")
async def create_run(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    include = _include(request)
    body = await read_body(request, RunCreate)
    return _started(await services_of(request).runs.create(caller, thread_id, body, include))


@router.get("/threads/{thread_id}/runs")
async def list_runs(thread_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    query = list_query(read_query(request))
    return json_response(await services_of(request).runs.list(caller, thread_id, query))


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(thread_id: str, run_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    services = services_of(request)
    run = await services.runs.get(caller, thread_id, run_id)
    # The SDK's poll helpers wait this long between GETs when the caller set no interval.
    headers = {"openai-poll-after-ms": str(services.settings.poll_after_ms)}
    return json_response(run, headers=headers)


@router.post("/threads/{thread_id}/runs/{run_id}")
async def update_run(thread_id: str, run_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, RunUpdate)
    return json_response(await services_of(request).runs.update(caller, thread_id, run_id, body))


@router.post("/threads/{thread_id}/runs/{run_id}/cancel")
async def cancel_run(thread_id: str, run_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    return json_response(await services_of(request).runs.cancel(caller, thread_id, run_id))


@router.post("/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
async def submit_tool_outputs(thread_id: str, run_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    body = await read_body(request, SubmitToolOutputs)
    runs = services_of(request).runs
    return _started(await runs.submit_tool_outputs(caller, thread_id, run_id, body))


@router.get("/threads/{thread_id}/runs/{run_id}/steps")
async def list_steps(thread_id: str, run_id: str, request: Request) -> Response:
    caller = await beta_caller(request)
    params = read_query(request, repeatable=(INCLUDE,))
    include = request.query_params.getlist(INCLUDE)
    steps = services_of(request).run_steps
    return json_response(
        await steps.list_steps(caller, thread_id, run_id, list_query(params), include)
    )


@router.get("/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
async def get_step(
    thread_id: str,
    run_id: str,
    step_id: str,
    request: Request,
) -> Response:
    caller = await beta_caller(request)
    include = _include(request)
    steps = services_of(request).run_steps
    return json_response(await steps.get_step(caller, thread_id, run_id, step_id, include))
