"""The server tools this server runs, looked up by name for a run's tools."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from assistantd.engine.tools.base import ServerTool


class ServerTools:
    def __init__(self, tools: Iterable[ServerTool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def of_run(self, run_tools: Sequence[dict[str, Any]]) -> dict[str, ServerTool]:
        """The server tools a run enabled, by name, in the run's order."""
        return {t["type"]: self._tools[t["type"]] for t in run_tools if t["type"] in self._tools}

    def chat_tools(self, run_tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """What the model is offered: the client's functions as they are, each server tool
        as the function the engine runs itself."""
        functions = []
        for tool in run_tools:
            if tool["type"] == "function":
                functions.append({"type": "function", "function": dict(tool["function"])})
            elif tool["type"] in self._tools:
                functions.append(self._tools[tool["type"]].function())
        return functions or None

    def unavailable(self, run_tools: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
        """(name, reason) of the first tool of the run this server cannot run, or None."""
        for name, tool in self.of_run(run_tools).items():
            reason = tool.unavailable_reason()
            if reason is not None:
                return name, reason
        return None
