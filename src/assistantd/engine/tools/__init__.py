"""Server tools: the interface, the registry, and the tools this server runs."""

from assistantd.engine.tools.base import (
    CallStream,
    ServerTool,
    StoredCall,
    ToolCall,
    ToolUnavailable,
    unavailable_message,
)
from assistantd.engine.tools.registry import ServerTools

__all__ = [
    "CallStream",
    "ServerTool",
    "ServerTools",
    "StoredCall",
    "ToolCall",
    "ToolUnavailable",
    "unavailable_message",
]
