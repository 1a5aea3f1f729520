"""The per-request dependency: OpenAI-Beta policy, authentication, rate limit, request id."""

from __future__ import annotations

from fastapi import Request

from assistantd.api.request import refuse_nul_path_ids
from assistantd.errors import InvalidRequestError
from assistantd.service.caller import Caller
from assistantd.service.services import Services

_BETA_HELP = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again "
    "by setting the header 'OpenAI-Beta: assistants=v2'."
)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _authenticate(request: Request) -> Caller:
    services = services_of(request)
    identity = await services.auth.authenticate(request.headers.get("authorization"))
    services.rate_limiter.check(identity.key_id or identity.project_id)
    refuse_nul_path_ids(request.path_params)
    return Caller(
        project_id=identity.project_id,
        key_id=identity.key_id,
        request_id=request.state.request_id,
    )


async def beta_caller(request: Request) -> Caller:
    """For assistants, threads, messages, runs and vector stores (wire-spec 1.3, decision 1)."""
    beta = request.headers.get("openai-beta")
    if beta is not None:
        flags = {item.strip() for item in beta.split(",")}
        if "assistants=v1" in flags:
            raise InvalidRequestError(
                "The v1 Assistants API has been deprecated. Please try again by setting the "
                "header 'OpenAI-Beta: assistants=v2'.",
                code="invalid_beta",
            )
    elif services_of(request).settings.require_beta_header:
        raise InvalidRequestError(_BETA_HELP, code="invalid_beta")
    return await _authenticate(request)


async def plain_caller(request: Request) -> Caller:
    """For /files, which the SDK calls without the OpenAI-Beta header."""
    return await _authenticate(request)
