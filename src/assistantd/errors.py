"""The one exception family of assistantd; the HTTP layer maps it to the OpenAI error envelope."""

from __future__ import annotations


class AssistantdError(Exception):
    """Base of every error that reaches a client. Carries the OpenAI envelope fields."""

    status_code = 500
    error_type = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(AssistantdError):
    """A request that can never succeed as sent (HTTP 400)."""

    status_code = 400
    error_type = "invalid_request_error"


class RequestTooLargeError(InvalidRequestError):
    status_code = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, code="request_too_large")


class AuthenticationError(AssistantdError):
    status_code = 401
    error_type = "invalid_request_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_api_key")


class NotFoundError(AssistantdError):
    status_code = 404
    error_type = "invalid_request_error"


class RateLimitError(AssistantdError):
    status_code = 429
    error_type = "requests"

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(
            message,
            code="rate_limit_exceeded",
            headers={
                "retry-after-ms": str(retry_after_ms),
                "retry-after": f"{max(retry_after_ms / 1000, 0.001):.3f}",
            },
        )


class ServiceUnavailableError(AssistantdError):
    """Nothing was done and the same request may succeed shortly (HTTP 503, retried by the SDK)."""

    status_code = 503
    error_type = "server_error"

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(
            message,
            code="service_unavailable",
            headers={
                "retry-after-ms": str(retry_after_ms),
                "x-should-retry": "true",
            },
        )


class ServerError(AssistantdError):
    status_code = 500
    error_type = "server_error"


def not_found(kind: str, object_id: str) -> NotFoundError:
    """The OpenAI wording for a missing object, e.g. "No thread found with id 'thread_x'."."""
    return NotFoundError(f"No {kind} found with id '{object_id}'.", param=None, code=None)
