"""Tool calls through an upstream without native tool calling: the tools are described in the
prompt, the model answers in JSON, and the reply is validated (one retry, then a clear error)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from assistantd.ids import new_id
from assistantd.providers.base import (
    ChatDelta,
    ChatProvider,
    ChatRequest,
    ProviderError,
    ToolCallDelta,
    Usage,
)
from assistantd.providers.tool_emulation import ToolPlan, plain_conversation, plan_tools
from assistantd.providers.tool_reply import (
    MessageReply,
    MessageTextStream,
    ReplyError,
    ToolCallReply,
    parse_reply,
)

ATTEMPTS = 2


def call_delta(reply: ToolCallReply, usage: Usage | None = None) -> ChatDelta:
    """A complete call as the one delta of a turn that ends in `tool_calls`."""
    arguments = json.dumps(reply.arguments, ensure_ascii=False)
    return ChatDelta(
        tool_calls=[
            ToolCallDelta(index=0, id=new_id("call"), name=reply.name, arguments=arguments)
        ],
        finish_reason="tool_calls",
        usage=usage,
    )


@dataclass
class _Attempt:
    """What one upstream answer produced."""

    text: str = ""
    finish_reason: str | None = None
    streamed: str = ""  # message text already passed on


class PromptedToolsProvider:
    """Wraps a provider whose model has no tool calling (route `tools = false`)."""

    def __init__(self, inner: ChatProvider, *, json_mode: bool) -> None:
        self._inner = inner
        self._json_mode = json_mode  # the upstream honours response_format json_object

    async def close(self) -> None:
        """The inner provider is shared and closed by its owner, the router."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        plan = plan_tools(request)
        plain = replace(request, tools=None, tool_choice=None, parallel_tool_calls=None)
        if plan is None:
            async for delta in self._inner.stream(plain):
                yield delta
            return
        messages = plain_conversation(request.messages, plan)
        response_format = {"type": "json_object"} if self._json_mode else None
        prompt_tokens = completion_tokens = 0
        seen_usage = False
        for attempt in range(1, ATTEMPTS + 1):
            outcome = _Attempt()
            reader = MessageTextStream()
            turn = replace(plain, messages=messages, response_format=response_format)
            async for delta in self._inner.stream(turn):
                if delta.usage is not None:
                    seen_usage = True
                    prompt_tokens += delta.usage.prompt_tokens
                    completion_tokens += delta.usage.completion_tokens
                if delta.finish_reason:
                    outcome.finish_reason = delta.finish_reason
                text = delta.content
                for call in delta.tool_calls:  # a model that calls natively after all
                    text += call.arguments
                if text:
                    piece = reader.feed(text)
                    if piece:
                        outcome.streamed += piece
                        yield ChatDelta(content=piece)
            outcome.text = reader.raw
            usage = Usage(prompt_tokens, completion_tokens) if seen_usage else None
            try:
                reply = parse_reply(outcome.text, plan)
            except ReplyError as exc:
                if outcome.streamed or outcome.finish_reason == "length":
                    # Text already on its way to the client, or an answer cut by the budget:
                    # it ends as what it is rather than being asked for again.
                    yield ChatDelta(finish_reason=outcome.finish_reason or "stop", usage=usage)
                    return
                if attempt == ATTEMPTS:
                    raise ProviderError(
                        "invalid_prompt",
                        "The model did not answer with a valid tool call or message "
                        f"(route configured with tools = false; tried {ATTEMPTS} times): {exc}.",
                        retryable=False,
                    ) from exc
                messages = [*messages, *_correction(outcome.text, exc, plan)]
                continue
            if isinstance(reply, MessageReply):
                rest = reply.content.removeprefix(outcome.streamed)
                yield ChatDelta(content=rest, finish_reason="stop", usage=usage)
            else:
                yield call_delta(reply, usage)
            return


def _correction(text: str, error: ReplyError, plan: ToolPlan) -> list[dict[str, Any]]:
    """The failed reply and what was wrong with it, for the model's second try."""
    shape = "one JSON object" if plan.allow_message else "one JSON tool_call object"
    return [
        {"role": "assistant", "content": text},
        {
            "role": "user",
            "content": f"That reply was invalid: {error}. Reply again with {shape} only, "
            "exactly as the system message describes.",
        },
    ]
