"""How a run's settings are said to a Chat Completions upstream: tools, tool_choice, format.
file_search and code_interpreter are offered as functions the engine runs itself."""

from __future__ import annotations

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
