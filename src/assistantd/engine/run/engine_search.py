"""Engine-side file_search for routes whose model cannot drive tools: on a run's first turn the
engine searches with the user's last message, records it as a normal file_search call, and the
model, no longer offered the tool, answers from the passages and cites their markers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from assistantd.clock import Clock
from assistantd.engine.citations import marker
from assistantd.engine.run.publisher import RunPublisher
from assistantd.engine.run.turn import step_row
from assistantd.engine.tools import file_search
from assistantd.engine.tools.file_search import FileSearchRunner
from assistantd.ids import new_id
from assistantd.providers.base import ChatRequest
from assistantd.providers.routing import Route
from assistantd.providers.tool_emulation import content_text, with_instruction
from assistantd.store import jobs as job_store
from assistantd.store import prompt_messages
from assistantd.store import runs as run_store
from assistantd.store.database import Database
from assistantd.store.jobs import Claim
from assistantd.wire.deltas import FileSearchToolCallDelta
from assistantd.wire.run_steps import stored_tool_calls

ENGINE = "engine"
# The query is the user's message; a pasted page is cut (the searcher ranks by its words).
QUERY_CHARS = 1000
CITE_INSTRUCTION = (
    "Answer from the excerpts of the user's files. After each sentence that uses an excerpt, "
    "copy that excerpt's marker, like 【0:0†report.pdf】."
)
EXCERPTS_HEADING = "Excerpts from my files:"
_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0}


def searches(route: Route, run: Mapping[Any, Any], steps: Sequence[Mapping[Any, Any]]) -> bool:
    """Whether the engine searches before this turn: a route set to search itself, a run with
    file_search, and the run's first turn. Not once the run has any step (a later turn, or a
    resumed one whose search is already recorded), nor when `tool_choice` says the model must
    not use tools or must call one of the client's functions first."""
    if route.file_search != ENGINE or file_search.tool_config(run["tools"]) is None:
        return False
    if steps:
        return False
    choice = run["tool_choice"]
    if choice == "none":
        return False
    return not (isinstance(choice, dict) and choice.get("type") == "function")


class EngineSearch:
    """Runs the first turn's search and records it as the model-driven path would."""

    def __init__(
        self, db: Database, publisher: RunPublisher, clock: Clock, runner: FileSearchRunner
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._clock = clock
        self._runner = runner

    async def search(self, claim: Claim, run: Mapping[Any, Any]) -> Mapping[Any, Any] | None:
        """Search the run's stores with the user's last message; the completed step, or None
        (nothing recorded) when there is no store or no text to search with."""
        if not await self._runner.store_ids(run):
            return None
        async with self._db.read() as conn:
            query = (await prompt_messages.last_user_text(conn, run["thread_id"])).strip()
        if not query:
            return None
        step_id, call_id = new_id("step"), new_id("call")
        details = stored_tool_calls([])
        step = step_row(run, step_id, self._clock(), "tool_calls", details)
        async with job_store.fenced_write(self._db, claim) as conn:
            await run_store.insert_step(conn, step)
        # The events of a model's file_search call: the step, the call announced, the result.
        self._publisher.opened_step(step)
        announced = FileSearchToolCallDelta(index=0, id=call_id, file_search={})
        self._publisher.tool_call(run["id"], step_id, announced)
        arguments = json.dumps({"queries": [query[:QUERY_CHARS]]}, ensure_ascii=False)
        item = await self._runner.run(run, call_id, 0, arguments)
        values = {
            "status": "completed",
            "completed_at": self._clock(),
            "step_details": {**details, "tool_calls": [item]},
            "usage": _NO_USAGE,
        }
        async with job_store.fenced_write(self._db, claim) as conn:
            done = await run_store.set_step(conn, step_id, values)
        if done is not None:
            self._publisher.step(done, "completed")
        return done


def shape(route: Route, steps: Sequence[Mapping[Any, Any]], request: ChatRequest) -> ChatRequest:
    """The turn's request on an engine-search route: file_search is never offered (the engine
    searched); with results in the prompt the model is told to cite them, and a model with
    emulated tools gets the passages in the user's message instead of as a tool result."""
    if route.file_search != ENGINE:
        return request
    tools = [t for t in request.tools or [] if t["function"]["name"] != file_search.NAME]
    choice = request.tool_choice
    if not tools:
        choice = None
    elif isinstance(choice, dict) and choice["function"]["name"] == file_search.NAME:
        choice = "auto"
    searched = searches_of(steps)
    messages = request.messages
    cite: tuple[str, ...] = ()
    if searched:
        if any(searched.values()):
            messages = with_instruction(messages, CITE_INSTRUCTION)
        if route.emulates_tools:
            messages = fold(messages, searched)
        if _last_tool_step_searched(steps):
            cite = tuple(passage.marker for passages in searched.values() for passage in passages)
    return dataclasses.replace(
        request,
        messages=messages,
        tools=tools or None,
        tool_choice=choice,
        parallel_tool_calls=request.parallel_tool_calls if tools else None,
        cite=cite,
    )


@dataclasses.dataclass(frozen=True)
class Passage:
    text: str
    marker: str


def searches_of(steps: Sequence[Mapping[Any, Any]]) -> dict[str, list[Passage]]:
    """The run's file_search calls (call id -> results as passages with their markers),
    numbered as `citations.sources_of_steps` numbers them."""
    found: dict[str, list[Passage]] = {}
    for item in _search_items(steps):
        call_no = len(found)
        found[item["id"]] = [
            Passage(
                text=" ".join(part["text"] for part in result.get("content") or []),
                marker=marker(call_no, rank, result["file_name"]),
            )
            for rank, result in enumerate(item[file_search.NAME].get("results") or [])
        ]
    return found


def _search_items(steps: Sequence[Mapping[Any, Any]]) -> list[Mapping[Any, Any]]:
    return [
        item
        for step in steps
        if step["step_details"].get("type") == "tool_calls"
        for item in step["step_details"]["tool_calls"]
        if item["type"] == file_search.NAME
    ]


def _last_tool_step_searched(steps: Sequence[Mapping[Any, Any]]) -> bool:
    """Whether the results the model now answers are the search's (not a later call's)."""
    tool_steps = [s for s in steps if s["step_details"].get("type") == "tool_calls"]
    return bool(tool_steps) and all(
        item["type"] == file_search.NAME for item in tool_steps[-1]["step_details"]["tool_calls"]
    )


def fold(
    messages: list[dict[str, Any]], searched: Mapping[str, list[Passage]]
) -> list[dict[str, Any]]:
    """The search calls and their results taken out of the conversation, the passages put in
    the user's message before them, each followed by its marker: a 135M model shown its own
    call and a result calls the tool again, shown the passages it answers from them."""
    out: list[dict[str, Any]] = []
    for message in messages:
        calls = message.get("tool_calls") or []
        ids = [str(call.get("id")) for call in calls]
        if message.get("role") == "assistant" and calls and all(i in searched for i in ids):
            excerpts = [p for call_id in ids for p in searched[call_id]]
            _prepend_excerpts(out, excerpts)
            continue
        if message.get("role") == "tool" and message.get("tool_call_id") in searched:
            continue
        out.append(message)
    return out


def _prepend_excerpts(out: list[dict[str, Any]], excerpts: list[Passage]) -> None:
    """Put the excerpts before the text of the newest user message in `out`."""
    users = [i for i, message in enumerate(out) if message.get("role") == "user"]
    if not users:
        return
    at = users[-1]
    # No passages: what the model-driven path answers for an empty result.
    body = "\n\n".join(f"{p.text} {p.marker}" for p in excerpts) or file_search.model_output(0, [])
    heading = f"{EXCERPTS_HEADING}\n\n{body}\n\nQuestion: "
    content = out[at].get("content")
    if isinstance(content, list):
        new_content: Any = [{"type": "text", "text": heading}, *content]
    else:
        new_content = heading + content_text(content)
    out[at] = {**out[at], "content": new_content}
