"""What the embedded model is asked per turn: the grammar (a bounded call, prose of an answer from
results, cited when search results are in the prompt) and the repetition penalties."""

from __future__ import annotations

from typing import Any

from assistantd.providers.base import ChatRequest
from assistantd.providers.embedded_turn import (
    ANSWER_INSTRUCTION,
    Repetition,
    embedded_turn,
)
from assistantd.providers.grammar import answer_gbnf, tool_reply_gbnf

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
QUESTION = [
    {"role": "system", "content": "Use the tools."},
    {"role": "user", "content": "Weather in Paris?"},
]
CALLED = [
    *QUESTION,
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"forecast": "sunny"}'},
]
PROSE = Repetition(repeat=1.3, frequency=0.2, presence=0.1)
JSON = Repetition(repeat=1.05)


def turn(**fields: Any) -> Any:
    request = ChatRequest(**{"model": "m", "messages": QUESTION, **fields})
    return embedded_turn(request, 300, PROSE, JSON)


def penalties(sampling: Any) -> Repetition:
    return Repetition(
        sampling.repeat_penalty, sampling.frequency_penalty, sampling.presence_penalty
    )


def test_a_call_turn_has_the_bounded_call_grammar_and_json_penalties() -> None:
    planned = turn(tools=[WEATHER], tool_choice="auto")
    assert planned.plan is not None
    assert planned.grammar == tool_reply_gbnf(planned.plan, 300)
    assert penalties(planned.sampling) == JSON
    assert planned.sampling.max_tokens == 300


def test_after_the_results_the_answer_is_prose_sentences() -> None:
    answering = turn(messages=CALLED, tools=[WEATHER], tool_choice="auto", max_tokens=100)
    assert answering.plan is None, "streamed as it comes, not a JSON message"
    assert answering.grammar == answer_gbnf([], 100)
    assert penalties(answering.sampling) == PROSE
    system = answering.messages[0]["content"]
    assert system == f"Use the tools.\n\n{ANSWER_INSTRUCTION}"
    assert answering.messages[-1] == {
        "role": "user",
        "content": 'Result of get_weather: {"forecast": "sunny"}',
    }


def test_search_results_make_every_sentence_cite() -> None:
    cited = turn(cite=("【0:0†a.txt】",))
    assert cited.plan is None
    assert cited.grammar == answer_gbnf(["【0:0†a.txt】"], 300)
    assert ANSWER_INSTRUCTION in cited.messages[0]["content"]
    assert penalties(cited.sampling) == PROSE


def test_a_plain_turn_has_no_grammar_and_a_response_format_wins() -> None:
    plain = turn()
    assert plain.grammar is None
    assert penalties(plain.sampling) == PROSE
    assert plain.messages == QUESTION
    formatted = turn(cite=("【0:0†a.txt】",), response_format={"type": "json_object"})
    assert formatted.grammar is not None
    assert "【" not in formatted.grammar
    assert penalties(formatted.sampling) == JSON


def test_every_turn_is_greedy_unless_the_run_sets_a_temperature() -> None:
    # Sampled at 0.2, the 135M model once answered "What is the capital of France?" with
    # "L'Alcazabal" and asked for the weather in 'Kwale' when told Nairobi.
    plain = embedded_turn(ChatRequest(model="x", messages=QUESTION), 64)
    asking = embedded_turn(ChatRequest(model="x", messages=QUESTION, tools=[WEATHER]), 64)
    answering = embedded_turn(ChatRequest(model="x", messages=CALLED, tools=[WEATHER]), 64)
    chosen = embedded_turn(
        ChatRequest(model="x", messages=CALLED, tools=[WEATHER], temperature=0.7), 64
    )
    assert plain.sampling.temperature == 0.0
    assert asking.plan is not None  # the tool-call turn: JSON
    assert asking.sampling.temperature == 0.0
    assert answering.plan is None  # the answer turn: prose
    assert answering.sampling.temperature == 0.0
    assert (chosen.sampling.temperature, chosen.sampling.top_p) == (0.7, 0.9)
