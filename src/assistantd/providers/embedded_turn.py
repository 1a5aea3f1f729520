"""One Chat Completions turn said to the embedded model: plain-text messages, the grammar that
shapes its reply (tool calls or a JSON response_format), and the sampling settings."""

from __future__ import annotations

from dataclasses import dataclass

from assistantd.providers.base import ChatRequest
from assistantd.providers.grammar import response_format_gbnf, tool_reply_gbnf
from assistantd.providers.llama_model import Sampling
from assistantd.providers.tool_emulation import (
    ToolPlan,
    content_text,
    plain_conversation,
    plan_tools,
)

# SmolLM2's recommended sampling; a run's own temperature and top_p win.
DEFAULT_TEMPERATURE = 0.2
DEFAULT_TOP_P = 0.9
# Small models loop on free text without a mild repetition penalty; under a grammar it would
# penalise the JSON punctuation the reply must repeat.
TEXT_REPEAT_PENALTY = 1.1


@dataclass(frozen=True)
class EmbeddedTurn:
    messages: list[dict[str, str]]
    plan: ToolPlan | None
    grammar: str | None
    sampling: Sampling


def embedded_turn(request: ChatRequest, default_max_tokens: int) -> EmbeddedTurn:
    plan = plan_tools(request, one_round=True)
    messages = [
        {"role": str(m.get("role") or "user"), "content": content_text(m.get("content"))}
        for m in plain_conversation(request.messages, plan)
    ]
    grammar = tool_reply_gbnf(plan) if plan else response_format_gbnf(request.response_format)
    sampling = Sampling(
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
        max_tokens=request.max_tokens if request.max_tokens is not None else default_max_tokens,
        repeat_penalty=1.0 if grammar else TEXT_REPEAT_PENALTY,
    )
    return EmbeddedTurn(messages=messages, plan=plan, grammar=grammar, sampling=sampling)
