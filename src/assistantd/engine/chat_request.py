"""How a run's settings are said to a Chat Completions upstream: tools, tool_choice, format.
file_search and code_interpreter are offered as functions the engine runs itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assistantd.engine import code_interpreter, file_search


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Function tools pass through; file_search is offered as a function the engine runs."""
    functions = []
    for tool in tools:
        if tool["type"] == "function":
            functions.append({"type": "function", "function": dict(tool["function"])})
        elif tool["type"] == file_search.NAME:
            functions.append(file_search.FUNCTION)
        elif tool["type"] == code_interpreter.NAME:
            functions.append(code_interpreter.FUNCTION)
    return functions or None


def turn_tool_choice(choice: Any, steps: Sequence[Mapping[Any, Any]]) -> Any:
    """A forcing `tool_choice` ("required", a named tool) applies until a tool has answered;
    the turns after that are "auto", or the model could only ever call tools again."""
    forcing = choice == "required" or isinstance(choice, dict)
    answered = any(step["step_details"].get("type") == "tool_calls" for step in steps)
    return "auto" if forcing and answered else choice


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    if isinstance(choice, dict) and choice.get("type") in (file_search.NAME, code_interpreter.NAME):
        return {"type": "function", "function": {"name": choice["type"]}}
    return None


def chat_response_format(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None
