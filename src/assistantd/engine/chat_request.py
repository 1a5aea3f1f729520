"""How a run's settings are said to a Chat Completions upstream: tools, tool_choice, format."""

from __future__ import annotations

from typing import Any


def unavailable_tool(tools: list[dict[str, Any]]) -> str | None:
    for tool in tools:
        if tool["type"] in ("file_search", "code_interpreter"):
            return str(tool["type"])
    return None


def chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    functions = [
        {"type": "function", "function": dict(t["function"])}
        for t in tools
        if t["type"] == "function"
    ]
    return functions or None


def chat_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    return None


def chat_response_format(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None
