"""How a run's settings are said to a Chat Completions upstream: tools, tool_choice, format."""

from __future__ import annotations

from typing import Any

from assistantd.engine import file_search


def unavailable_tool(tools: list[dict[str, Any]]) -> str | None:
    for tool in tools:
        if tool["type"] == "code_interpreter":
            return str(tool["type"])
    return None


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Function tools pass through; file_search is offered as a function the engine runs."""
    functions = []
    for tool in tools:
        if tool["type"] == "function":
            functions.append({"type": "function", "function": dict(tool["function"])})
        elif tool["type"] == file_search.NAME:
            functions.append(file_search.FUNCTION)
    return functions or None


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    if isinstance(choice, dict) and choice.get("type") == file_search.NAME:
        return {"type": "function", "function": {"name": file_search.NAME}}
    return None


def chat_response_format(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None
