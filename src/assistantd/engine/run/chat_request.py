"""How a run's settings are said to a Chat Completions upstream: tool_choice and format (the
tools themselves: `ServerTools.chat_tools`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def turn_tool_choice(choice: Any, steps: Sequence[Mapping[Any, Any]]) -> Any:
    """A forcing `tool_choice` ("required", a named tool) applies until a tool has answered;
    the turns after that are "auto", or the model could only ever call tools again."""
    forcing = choice == "required" or isinstance(choice, dict)
    answered = any(step["step_details"].get("type") == "tool_calls" for step in steps)
    return "auto" if forcing and answered else choice


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    """A named server tool (`{"type": "file_search"}`) is the function of its name."""
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        return {"type": "function", "function": {"name": choice["type"]}}
    return None


def chat_response_format(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None
