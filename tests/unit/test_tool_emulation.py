"""Emulated tool calls: the turn's plan, the reply schema and instruction, the rewritten
conversation, reply validation, and streaming a message's text out of its JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from assistantd.providers.base import ChatRequest
from assistantd.providers.tool_emulation import ToolPlan, plain_conversation, plan_tools
from assistantd.providers.tool_reply import (
    MessageReply,
    MessageTextStream,
    ReplyError,
    ToolCallReply,
    parse_reply,
)

ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}},
    "required": ["order_id"],
}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city"],
}


def tool(name: str, parameters: dict[str, Any], description: str = "") -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def request(tool_choice: Any = None, messages: list[dict[str, Any]] | None = None) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=messages or [{"role": "user", "content": "Where is order 42?"}],
        tools=[tool("get_order", ORDER, "Look an order up."), tool("weather", WEATHER)],
        tool_choice=tool_choice,
    )


def test_auto_offers_a_message_or_any_tool() -> None:
    plan = plan_tools(request("auto"))
    assert plan is not None
    assert plan.allow_message
    assert list(plan.tools) == ["get_order", "weather"]
    assert plan_tools(request(None)) == plan


def test_none_and_no_tools_mean_no_plan() -> None:
    assert plan_tools(request("none")) is None
    assert plan_tools(ChatRequest(model="m", messages=[])) is None


def test_required_and_named_choices_narrow_the_plan() -> None:
    required = plan_tools(request("required"))
    assert required is not None
    assert not required.allow_message
    assert list(required.tools) == ["get_order", "weather"]
    named = plan_tools(request({"type": "function", "function": {"name": "weather"}}))
    assert named is not None
    assert not named.allow_message
    assert list(named.tools) == ["weather"]


def test_a_forced_choice_is_satisfied_once_results_follow_the_user() -> None:
    answered = [
        {"role": "user", "content": "Where is order 42?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_order", "arguments": '{"order_id": "42"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "shipped"},
    ]
    plan = plan_tools(request({"type": "function", "function": {"name": "get_order"}}, answered))
    assert plan is not None
    assert plan.allow_message
    again = [*answered, {"role": "user", "content": "And order 43?"}]
    plan = plan_tools(request("required", again))
    assert plan is not None
    assert not plan.allow_message


def test_one_round_allows_only_an_answer_once_results_are_in() -> None:
    answered = [
        {"role": "user", "content": "Where is order 42?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_order", "arguments": '{"order_id": "42"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
    ]  # fmt: skip
    plan = plan_tools(request("auto", answered), one_round=True)
    assert plan is not None
    assert (dict(plan.tools), plan.allow_message) == ({}, True)
    assert plan.reply_schema()["properties"]["type"] == {"const": "message"}
    assert "Answer the user with the tool results above" in plan.instruction()
    fresh = plan_tools(request("auto"), one_round=True)
    assert fresh is not None
    assert list(fresh.tools) == ["get_order", "weather"]
    assert plan_tools(request("none", answered), one_round=True) is None


def test_reply_schema_accepts_exactly_the_allowed_shapes() -> None:
    plan = plan_tools(request("auto"))
    assert plan is not None
    validator = Draft202012Validator(plan.reply_schema())
    assert validator.is_valid({"type": "message", "content": "hi"})
    assert validator.is_valid(
        {"type": "tool_call", "name": "get_order", "arguments": {"order_id": "1"}}
    )
    assert not validator.is_valid({"type": "tool_call", "name": "get_order", "arguments": {}})
    assert not validator.is_valid({"type": "tool_call", "name": "nope", "arguments": {}})
    assert not validator.is_valid({"type": "message", "content": "hi", "extra": 1})
    forced = plan_tools(request({"type": "function", "function": {"name": "weather"}}))
    assert forced is not None
    schema = forced.reply_schema()
    assert "oneOf" not in schema  # one branch: the schema is that branch
    assert schema["properties"]["name"] == {"const": "weather"}
    assert not Draft202012Validator(schema).is_valid({"type": "message", "content": "x"})


def test_reply_schema_can_replace_an_argument_schema() -> None:
    plan = ToolPlan(tools={"t": ORDER}, descriptions={}, allow_message=False)
    schema = plan.reply_schema({"t": {"type": "object"}})
    assert schema["properties"]["arguments"] == {"type": "object"}


def test_instruction_names_every_tool_and_both_shapes() -> None:
    plan = plan_tools(request("auto"))
    assert plan is not None
    text = plan.instruction()
    assert "- get_order: Look an order up. Arguments: " in text
    assert '"order_id"' in text
    assert "- weather: Arguments:" in text
    assert '"type": "message"' in text
    assert '"type": "tool_call"' in text
    required = plan_tools(request("required"))
    assert required is not None
    assert "You must call a tool (get_order, weather)" in required.instruction()
    assert '"type": "message"' not in required.instruction()


def test_plain_conversation_turns_calls_and_results_into_text() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Where is order 42?"}]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_order", "arguments": '{"order_id": "42"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "shipped"}'},
    ]  # fmt: skip
    plan = plan_tools(request("auto", messages))
    assert plan is not None
    converted = plain_conversation(messages, plan)
    assert [m["role"] for m in converted] == ["system", "user", "assistant", "user"]
    assert converted[0]["content"].startswith("Be brief.\n\nYou can call these tools:")
    assert converted[1] == messages[1]  # user parts (images included) are left alone
    lines = converted[2]["content"].splitlines()
    assert json.loads(lines[0]) == {"type": "message", "content": "Let me look."}
    assert json.loads(lines[1]) == {
        "type": "tool_call",
        "name": "get_order",
        "arguments": {"order_id": "42"},
    }
    assert converted[3]["content"] == 'Result of get_order: {"status": "shipped"}'


def test_plain_conversation_without_a_plan_adds_no_instruction() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert plain_conversation(messages, None) == messages


def auto_plan() -> ToolPlan:
    plan = plan_tools(request("auto"))
    assert plan is not None
    return plan


def test_parse_reply_reads_messages_and_calls() -> None:
    plan = auto_plan()
    assert parse_reply('{"type": "message", "content": "Hi"}', plan) == MessageReply("Hi")
    call = parse_reply('{"type":"tool_call","name":"weather","arguments":{"city":"Oslo"}}', plan)
    assert call == ToolCallReply("weather", {"city": "Oslo"})
    fenced = '```json\n{"type": "tool_call", "name": "weather", "arguments": {"city": "X"}}\n```'
    assert parse_reply(fenced, plan) == ToolCallReply("weather", {"city": "X"})
    as_string = '{"type":"tool_call","name":"weather","arguments":"{\\"city\\": \\"Rome\\"}"}'
    assert parse_reply(as_string, plan) == ToolCallReply("weather", {"city": "Rome"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Paris.", "not a JSON object"),
        ("[1]", "not a JSON object"),
        ('{"type": "shout"}', "\"type\" must be one of ['tool_call', 'message']"),
        ('{"type": "tool_call", "name": "nope", "arguments": {}}', '"name" must be one of'),
        ('{"type": "tool_call", "name": "weather", "arguments": []}', "must be a JSON object"),
        ('{"type": "tool_call", "name": "weather", "arguments": {}}', "'city' is a required"),
        (
            '{"type": "tool_call", "name": "weather", "arguments": {"city": "a", "unit": "k"}}',
            "unit: 'k' is not one of ['c', 'f']",
        ),
        ('{"type": "message", "content": 3}', '"content" must be a string'),
    ],
)
def test_parse_reply_explains_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ReplyError, match=None) as caught:
        parse_reply(text, auto_plan())
    assert problem in str(caught.value)


def test_a_message_is_refused_when_a_call_is_required() -> None:
    plan = plan_tools(request("required"))
    assert plan is not None
    with pytest.raises(ReplyError, match="must be one of \\['tool_call'\\]"):
        parse_reply('{"type": "message", "content": "no"}', plan)


def feed_all(stream: MessageTextStream, pieces: list[str]) -> str:
    return "".join(stream.feed(piece) for piece in pieces)


def test_message_text_streams_as_it_is_written() -> None:
    reply = '{"type": "message", "content": "Caf\\u00e9 \\"ok\\"\\n\\ud83d\\ude00 done"}'
    stream = MessageTextStream()
    pieces = [reply[i : i + 3] for i in range(0, len(reply), 3)]
    outputs = [stream.feed(piece) for piece in pieces]
    assert "".join(outputs) == 'Café "ok"\n😀 done'
    assert stream.is_message
    assert sum(1 for out in outputs if out) > 3  # it streamed, not all at the end
    assert stream.raw == reply


def test_message_text_stream_tolerates_whitespace_and_stops_at_the_closing_quote() -> None:
    stream = MessageTextStream()
    text = feed_all(stream, ['{\n  "type" : "message",\n', '  "content": "a', 'b" }', " \n"])
    assert text == "ab"


def test_a_tool_call_streams_no_text() -> None:
    stream = MessageTextStream()
    text = feed_all(stream, ['{"type": "tool', '_call", "name": "x", "arguments": {}}'])
    assert text == ""
    assert stream.is_message is False
    undecided = MessageTextStream()
    assert undecided.feed('{"ty') == ""
    assert undecided.is_message is None


def test_raw_newlines_inside_strings_are_accepted() -> None:
    assert parse_reply('{"type": "message", "content": "a\nb"}', auto_plan()) == MessageReply(
        "a\nb"
    )
