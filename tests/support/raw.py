"""Plain HTTP next to the SDK: for our extensions (GET /threads) and for malformed requests the
SDK refuses to send."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.server import ServerProcess


def http(
    server: ServerProcess, api_key: str = "sk-test", beta: str | None = "assistants=v2"
) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key}"}
    if beta is not None:
        headers["OpenAI-Beta"] = beta
    return httpx.Client(base_url=server.base_url + "/", headers=headers, timeout=30)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The inner error object, after checking the envelope has exactly the four OpenAI keys."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    error: dict[str, Any] = body["error"]
    return error


def sdk_error_message(exc: Exception) -> str:
    """The server's message from an SDK exception (1.x puts the whole body in `.message`)."""
    body = getattr(exc, "body", None)
    assert isinstance(body, dict), body
    message = body["message"]
    assert isinstance(message, str)
    return message
