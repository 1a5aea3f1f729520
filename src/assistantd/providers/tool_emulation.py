"""Tool calls for models that cannot emit them: which replies a turn allows, the instruction that
describes the tools, and the conversation rewritten so earlier calls and results are plain text."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.providers.base import ChatRequest

MESSAGE = "message"
TOOL_CALL = "tool_call"
# The order the reply's keys are written in: the kind first, so a reader (and a streaming
# parser) knows early whether the model is answering or calling.
KEY_ORDER = ("type", "name", "content", "arguments")

_ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class ToolPlan:
    """The replies one turn allows: a message (unless a call is required) or a call to one of
    `tools` (name -> the function's `parameters` schema), with their descriptions."""

    tools: Mapping[str, dict[str, Any]]
    descriptions: Mapping[str, str]
    allow_message: bool

    def reply_schema(
        self, parameters: Mapping[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The JSON schema of a valid reply. `parameters` may replace some tools' argument
        schemas (a grammar builder does that for schemas it cannot express)."""
        branches: list[dict[str, Any]] = []
        if self.allow_message:
            branches.append(
                {
                    "type": "object",
                    "properties": {"type": {"const": MESSAGE}, "content": {"type": "string"}},
                    "required": ["type", "content"],
                    "additionalProperties": False,
                }
            )
        for name, schema in self.tools.items():
            arguments = (parameters or {}).get(name, schema)
            branches.append(
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": TOOL_CALL},
                        "name": {"const": name},
                        "arguments": arguments,
                    },
                    "required": ["type", "name", "arguments"],
                    "additionalProperties": False,
                }
            )
        return branches[0] if len(branches) == 1 else {"oneOf": branches}

    def instruction(self) -> str:
        """A short system instruction: the tools and the reply shapes."""
        if not self.tools:
            return (
                "Answer the user with the tool results above. Reply with one JSON object and "
                'nothing else: {"type": "message", "content": "<your answer>"}'
            )
        lines = ["You can call these tools:"]
        for name, schema in self.tools.items():
            description = self.descriptions.get(name, "").strip()
            arguments = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
            lines.append(
                f"- {name}: {description + ' ' if description else ''}Arguments: {arguments}"
            )
        call = '{"type": "tool_call", "name": "<tool name>", "arguments": {...}}'
        if self.allow_message:
            lines.append(
                "Reply with one JSON object and nothing else: "
                f"{call} to call a tool, or "
                '{"type": "message", "content": "<your answer>"} to answer the user.'
            )
        else:
            names = ", ".join(self.tools)
            lines.append(f"You must call a tool ({names}). Reply with one JSON object only: {call}")
        return "\n".join(lines)


def plan_tools(request: ChatRequest, *, one_round: bool = False) -> ToolPlan | None:
    """The turn's tool plan, or None when no tools are offered or `tool_choice` is "none".

    `one_round`: once results follow the user's last message, only an answer is allowed (a
    very small model otherwise calls the same tool again and again)."""
    functions = [tool["function"] for tool in request.tools or [] if tool.get("type") == "function"]
    choice = request.tool_choice
    if not functions or choice == "none":
        return None
    forced: str | None = None
    required = choice == "required"
    if isinstance(choice, dict):
        forced = str((choice.get("function") or {}).get("name") or "") or None
    answered = _answered_since_user(request.messages)
    if answered and one_round:
        return ToolPlan(tools={}, descriptions={}, allow_message=True)
    if (required or forced) and answered:
        # A forced choice asks for a call before the answer: once this turn's calls have their
        # results, the model may answer (or else a forced run could never end).
        required, forced = False, None
    chosen = [f for f in functions if forced is None or f.get("name") == forced] or functions
    return ToolPlan(
        tools={str(f["name"]): dict(f.get("parameters") or _ANY_OBJECT) for f in chosen},
        descriptions={str(f["name"]): str(f.get("description") or "") for f in chosen},
        allow_message=not (required or forced),
    )


def _answered_since_user(messages: Sequence[Mapping[str, Any]]) -> bool:
    for message in reversed(messages):
        if message.get("role") == "tool":
            return True
        if message.get("role") == "user":
            return False
    return False


def plain_conversation(
    messages: Sequence[Mapping[str, Any]], plan: ToolPlan | None
) -> list[dict[str, Any]]:
    """The conversation for a model without tool calling: the plan's instruction joins the
    system message, earlier calls become the JSON replies the model is asked to write, and
    tool results become user messages that name their call."""
    names: dict[str, str] = {}
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            text = _assistant_text(message, names, wrap=plan is not None)
            converted.append({"role": "assistant", "content": text})
        elif role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            name = names.get(call_id, "the tool")
            converted.append(
                {
                    "role": "user",
                    "content": f"Result of {name}: {content_text(message.get('content'))}",
                }
            )
        else:
            converted.append(dict(message))
    if plan is None:
        return converted
    return with_instruction(converted, plan.instruction())


def with_instruction(messages: list[dict[str, Any]], instruction: str) -> list[dict[str, Any]]:
    """`messages` with `instruction` at the end of the (first) system message."""
    converted = list(messages)
    if converted and converted[0].get("role") == "system":
        first = content_text(converted[0].get("content"))
        converted[0] = {"role": "system", "content": f"{first}\n\n{instruction}".strip()}
    else:
        converted.insert(0, {"role": "system", "content": instruction})
    return converted


def _assistant_text(message: Mapping[str, Any], names: dict[str, str], *, wrap: bool) -> str:
    """An earlier answer as text; in JSON (the shape the model must reply in) when `wrap`."""
    replies = []
    text = content_text(message.get("content"))
    if text:
        message_json = json.dumps({"type": MESSAGE, "content": text}, ensure_ascii=False)
        replies.append(message_json if wrap else text)
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        names[str(call.get("id") or "")] = name
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw)
        except ValueError:
            arguments = raw
        replies.append(
            json.dumps(
                {"type": TOOL_CALL, "name": name, "arguments": arguments}, ensure_ascii=False
            )
        )
    return "\n".join(replies)


def content_text(content: Any) -> str:
    """A message's text: a string as is, the text parts of a part list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text") or "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)
