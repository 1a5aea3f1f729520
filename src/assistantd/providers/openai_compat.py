"""Any OpenAI-compatible Chat Completions endpoint: OpenAI, vLLM, Ollama, llama.cpp, LM Studio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import orjson

from assistantd.providers.base import (
    ChatDelta,
    ChatRequest,
    ErrorCode,
    ProviderError,
    ToolCallDelta,
    Usage,
)


class OpenAICompatibleProvider:
    """Streams through `openai.AsyncOpenAI`. Retries are the run loop's job, so the client's
    own retries are off: a retry after partial output would duplicate the answer."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float,
        include_usage: bool = True,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            max_retries=0,
            timeout=timeout_seconds,
        )
        self._include_usage = include_usage

    async def close(self) -> None:
        await self._client.close()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        params: dict[str, Any] = {"model": request.model, "messages": request.messages}
        if request.tools:
            params["tools"] = request.tools
            if request.tool_choice is not None:
                params["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                params["parallel_tool_calls"] = request.parallel_tool_calls
        for name in ("temperature", "top_p", "response_format", "reasoning_effort"):
            value = getattr(request, name)
            if value is not None:
                params[name] = value
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if self._include_usage:
            params["stream_options"] = {"include_usage": True}
        try:
            # The raw event stream, parsed here: building the SDK's pydantic model for every
            # chunk cost more CPU than the rest of a run's bookkeeping. The body goes as
            # `extra_body`, sent as it is: the SDK's recursive transform of typed parameters
            # (plain JSON here already) took a sixth of a run's server CPU.
            async with self._client.chat.completions.with_streaming_response.create(
                model=request.model, messages=[], stream=True, extra_body=params
            ) as response:
                done = False
                async for line in response.iter_lines():
                    if done or not line.startswith("data:"):
                        continue  # blank separators, comments, `event:` lines
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        # Read on to the end of the body (it ends right here): a response left
                        # unread closes its connection, and every turn paid a new TCP connect.
                        done = True
                        continue
                    chunk = orjson.loads(payload)
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise ProviderError(
                            "server_error",
                            f"The model upstream reported an error: {chunk['error']}",
                            retryable=True,
                        )
                    yield _delta(chunk)
        except ProviderError:
            raise
        except openai.RateLimitError as exc:
            raise ProviderError("rate_limit_exceeded", _describe(exc), retryable=True) from exc
        except openai.APIStatusError as exc:
            retryable = exc.status_code >= 500 or exc.status_code in (408, 409)
            code: ErrorCode = "server_error" if retryable else "invalid_prompt"
            raise ProviderError(code, _describe(exc), retryable=retryable) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(
                "server_error", f"Could not reach the model upstream: {exc}", retryable=True
            ) from exc
        except (json.JSONDecodeError, openai.APIError, ValueError, KeyError, TypeError) as exc:
            raise ProviderError(
                "server_error", f"The model upstream sent a malformed stream: {exc}", retryable=True
            ) from exc
        except Exception as exc:  # transport errors of the SDK's HTTP library, see below
            # (httpx or httpx2, by SDK line) surface raw while a stream is read; the contract
            # of a provider is to raise ProviderError only.
            raise ProviderError(
                "server_error", f"The model upstream connection failed: {exc!r}", retryable=True
            ) from exc


def _delta(chunk: dict[str, Any]) -> ChatDelta:
    """One `chat.completion.chunk` (as parsed JSON) as a provider-neutral delta."""
    usage = None
    raw_usage = chunk.get("usage")
    if raw_usage:
        usage = Usage(
            prompt_tokens=int(raw_usage.get("prompt_tokens") or 0),
            completion_tokens=int(raw_usage.get("completion_tokens") or 0),
        )
    choices = chunk.get("choices") or []
    if not choices:
        return ChatDelta(usage=usage)
    choice = choices[0]
    delta = choice.get("delta") or {}
    calls = []
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        calls.append(
            ToolCallDelta(
                index=int(call.get("index", 0)),
                id=call.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments") or "",
            )
        )
    return ChatDelta(
        content=delta.get("content") or "",
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=usage,
    )


def _describe(exc: openai.APIStatusError) -> str:
    detail = exc.message
    return f"The model upstream answered {exc.status_code}: {detail}"
