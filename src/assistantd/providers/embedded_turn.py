"""One Chat Completions turn said to the embedded model: plain-text messages, the grammar that
shapes its reply (tool calls, a JSON response_format, or the prose of an answer from tool or
search results), and the sampling."""

from __future__ import annotations

from dataclasses import dataclass

from assistantd.providers.base import ChatRequest
from assistantd.providers.grammar import answer_gbnf, response_format_gbnf, tool_reply_gbnf
from assistantd.providers.llama_model import Sampling
from assistantd.providers.tool_emulation import (
    ToolPlan,
    content_text,
    plain_conversation,
    plan_tools,
    with_instruction,
)

# The embedded model decodes greedily unless the run or assistant sets a temperature: sampled
# (even at SmolLM2's recommended 0.2), a 135M model drifts from what it knows or was given.
# bench/seed_flows.py --n 20 at 0.2: a tool call for Nairobi asked about 'Kwale' (19/20 right);
# greedy: 20/20 for both seed flows. CI once saw "What is the capital of France?" answered
# with "L'Alcazabal" at 0.2.
DEFAULT_TEMPERATURE = 0.0
# Used only when a run samples (a temperature above 0) without its own top_p.
DEFAULT_TOP_P = 0.9
# Small models loop on free text without a mild repetition penalty (bench/seed_flows.py).
TEXT_REPEAT_PENALTY = 1.1
# Said with the answer grammar: a 135M model given results otherwise lists, rambles, or
# copies the results' layout after its answer.
ANSWER_INSTRUCTION = "Answer the user in one or two sentences, using only the results above."


@dataclass(frozen=True)
class Repetition:
    """llama.cpp's repetition penalties over the last 64 generated tokens."""

    repeat: float = 1.0
    frequency: float = 0.0
    presence: float = 0.0


# Prose and JSON replies are penalised apart: JSON must repeat its punctuation and keys, and a
# penalty on `"` keeps a string from closing.
DEFAULT_PROSE = Repetition(repeat=TEXT_REPEAT_PENALTY)
DEFAULT_JSON = Repetition()


@dataclass(frozen=True)
class EmbeddedTurn:
    messages: list[dict[str, str]]
    plan: ToolPlan | None  # None: the reply is prose, streamed as it comes
    grammar: str | None
    sampling: Sampling


def embedded_turn(
    request: ChatRequest,
    default_max_tokens: int,
    prose: Repetition = DEFAULT_PROSE,
    json: Repetition = DEFAULT_JSON,
) -> EmbeddedTurn:
    plan = plan_tools(request, one_round=True)
    max_tokens = request.max_tokens if request.max_tokens is not None else default_max_tokens
    # Tool results are in and only an answer is allowed: prose rather than a JSON message.
    answering = (plan is not None and not plan.tools) or bool(request.cite)
    if plan is not None and not plan.tools:
        plan = None
    conversation = plain_conversation(request.messages, plan)
    grammar: str | None = None
    penalties = json
    if plan is not None:
        grammar = tool_reply_gbnf(plan, max_tokens)
    elif request.response_format is not None:
        grammar = response_format_gbnf(request.response_format, max_tokens)
    elif answering:
        grammar, penalties = answer_gbnf(request.cite, max_tokens), prose
        conversation = with_instruction(conversation, ANSWER_INSTRUCTION)
    if grammar is None:
        penalties = prose
    sampling = Sampling(
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
        max_tokens=max_tokens,
        repeat_penalty=penalties.repeat,
        frequency_penalty=penalties.frequency,
        presence_penalty=penalties.presence,
    )
    messages = [
        {"role": str(m.get("role") or "user"), "content": content_text(m.get("content"))}
        for m in conversation
    ]
    return EmbeddedTurn(messages=messages, plan=plan, grammar=grammar, sampling=sampling)
