"""The interface every server tool implements (file_search, code_interpreter, ...): how the
model is offered it, how its call streams, how it runs and what its step records.

A server tool is offered to the model as a chat function of the tool's name; the run loop
executes its calls itself instead of handing them to the client, and never asks which tool a
call is for beyond looking it up in `ServerTools`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from assistantd.wire.deltas import ToolCallDelta

StoredCall = dict[str, Any]
"""A tool-call item as the step stores it: its wire shape (`wire.run_steps.stored_tool_call`)
plus what the engine keeps for itself under `_`-keys (`_model`: what the model was told)."""


class ToolUnavailable(Exception):
    """The tool cannot run here (no sandbox, all sessions busy): the run fails with this."""


@dataclass(frozen=True)
class ToolCall:
    """One call of a server tool, as the run loop hands it over."""

    run: Mapping[Any, Any]
    call_id: str
    index: int  # the call's position in its step (the index of its deltas)
    arguments: str
    ordinal: int  # calls of this tool earlier in the run (file_search numbers its markers)
    progress: Callable[[ToolCallDelta], None]  # streams output while the call runs


class CallStream(Protocol):
    """How one call's arguments stream to the client, fragment by fragment."""

    def announce(self, call_id: str, index: int, arguments: str, fragment: str) -> ToolCallDelta:
        """The first delta, once the model has named the tool: `arguments` so far, of which
        `fragment` came with the name."""
        ...

    def more(self, index: int, fragment: str) -> ToolCallDelta | None:
        """A later fragment of the arguments; None: nothing to show for it."""
        ...


class ServerTool(Protocol):
    name: str
    """The tool's `type` in a run's tools, and the function name the model calls."""

    def function(self) -> dict[str, Any]:
        """The chat-completions tool the model is offered."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why the tool cannot run on this server (a run using it fails at once), or None."""
        ...

    def call_stream(self) -> CallStream: ...

    async def run(self, call: ToolCall) -> StoredCall:
        """Execute the call; raises `ToolUnavailable` when it cannot run here."""
        ...

    def not_run(self, call: ToolCall, output: str) -> StoredCall:
        """The call recorded unexecuted (another call of its turn was invalid), the model told
        `output`."""
        ...


def unavailable_message(name: str, reason: str) -> str:
    return f"The {name} tool is not available on this server: {reason}"
