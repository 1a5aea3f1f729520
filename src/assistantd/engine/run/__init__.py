"""The run loop and its collaborators (see `executor` for how a run goes through them)."""

from assistantd.engine.run.answer import AnswerWriter
from assistantd.engine.run.endings import Closed, Ending, RunEndings, failure, server_error
from assistantd.engine.run.engine_search import EngineSearch
from assistantd.engine.run.executor import RunExecutor, RunLimits, RunParts
from assistantd.engine.run.function_calls import with_outputs
from assistantd.engine.run.planner import TurnPlanner
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.streaming import RetryPolicy, TurnStreamer
from assistantd.engine.run.tool_calls import ToolCallHandler

__all__ = [
    "AnswerWriter",
    "Closed",
    "Ending",
    "EngineSearch",
    "RetryPolicy",
    "RunEndings",
    "RunExecutor",
    "RunLimits",
    "RunParts",
    "RunPublisher",
    "ToolCallHandler",
    "TurnPlanner",
    "TurnStreamer",
    "failure",
    "server_error",
    "with_outputs",
]
