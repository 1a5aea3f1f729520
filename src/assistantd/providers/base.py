"""The chat provider interface the run loop talks to, independent of any vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ChatRequest:
    """One model turn: OpenAI Chat Completions shapes, since every upstream speaks them."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    # Markers of the search results the prompt holds (【0:1†a.txt】). A provider that shapes its
    # model's output (the embedded grammar) makes a plain answer cite them; others ignore it.
    cite: tuple[str, ...] = ()


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ChatDelta:
    """A piece of a streamed answer. `usage` comes at most once, usually last."""

    content: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None


ErrorCode = Literal["rate_limit_exceeded", "server_error", "invalid_prompt"]


class ProviderError(Exception):
    """The upstream failed. `retryable` errors may succeed if the same turn is sent again."""

    def __init__(self, code: ErrorCode, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.retryable = retryable


class ChatProvider(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Stream one answer. Raises ProviderError; never another exception type."""
        ...

    async def close(self) -> None: ...
