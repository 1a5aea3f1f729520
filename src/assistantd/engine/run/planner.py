"""Planning one model turn from the stored run: its token budget, the prompt (thread history
truncated to fit), the capabilities the model must have, and the request to send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.engine.citations import CitationScanner, paths_of_steps, sources_of_steps
from assistantd.engine.images import ImageLoader
from assistantd.engine.prompt import PromptTooLong
from assistantd.engine.run import engine_search
from assistantd.engine.run.chat_request import (
    chat_response_format,
    chat_tool_choice,
    turn_tool_choice,
)
from assistantd.engine.run.endings import Ending, failure
from assistantd.engine.run.turn import Turn, unshown_images
from assistantd.engine.run_prompt import build_run_prompt
from assistantd.engine.tokens import TokenCounter
from assistantd.engine.tools import ServerTools
from assistantd.providers.base import ChatRequest
from assistantd.providers.routing import Route
from assistantd.store.database import Database
from assistantd.wire.run_status import RunStatus

# Room left for the answer when `auto` truncation fits a prompt into the context window.
ANSWER_RESERVE = 4096


@dataclass(frozen=True)
class TurnPlan:
    request: ChatRequest
    turn: Turn  # what the turn starts from: citable sources, images to show, earlier calls
    prompt_tokens: int  # the prompt as we count it (used when the upstream reports no usage)
    usage: dict[str, int]  # the run's usage before this turn


class TurnPlanner:
    def __init__(
        self, db: Database, images: ImageLoader, counter: TokenCounter, tools: ServerTools
    ) -> None:
        self._db = db
        self._images = images
        self._counter = counter
        self._tools = tools

    async def plan(
        self, route: Route, run: Mapping[Any, Any], steps: Sequence[Mapping[Any, Any]]
    ) -> TurnPlan | Ending:
        """The next turn of `run` (its steps so far: `steps`), or how the run must end
        instead (over a token budget, a model lacking what the run needs)."""
        usage = dict(run["usage"] or {"prompt_tokens": 0, "completion_tokens": 0})
        budget = route.context_length - min(ANSWER_RESERVE, route.context_length // 4)
        if run["max_prompt_tokens"] is not None:
            budget = min(budget, run["max_prompt_tokens"] - usage["prompt_tokens"])
        try:
            # Read, converted and counted in short stretches: a long thread must not hold the
            # event loop (the SQLite driver and the tokenizer never yield on their own).
            built = await build_run_prompt(
                self._db, self._images, self._counter, run=run, steps=steps, budget=budget
            )
        except PromptTooLong as exc:
            if run["max_prompt_tokens"] is not None:
                return Ending(RunStatus.INCOMPLETE, incomplete="max_prompt_tokens")
            return failure(
                "invalid_prompt", f"The conversation does not fit the model's context: {exc}."
            )
        prompt = built.prompt
        tools = self._tools.chat_tools(run["tools"])
        lacking = route.missing_capability(
            tools=bool(tools),
            images=any(part.get("type") == "image_url" for part in _parts(prompt.messages)),
            response_format=chat_response_format(run["response_format"]) is not None,
        )
        if lacking is not None:
            return failure(
                "invalid_prompt",
                f"The model '{run['model']}' is configured without {lacking}, which this run "
                "needs.",
            )
        max_tokens = None
        if run["max_completion_tokens"] is not None:
            max_tokens = run["max_completion_tokens"] - usage["completion_tokens"]
            if max_tokens <= 0:
                return Ending(RunStatus.INCOMPLETE, incomplete="max_completion_tokens")
        request = ChatRequest(
            model=route.model_for(run["model"]),
            messages=prompt.messages,
            tools=tools,
            tool_choice=chat_tool_choice(turn_tool_choice(run["tool_choice"], steps)),
            parallel_tool_calls=run["parallel_tool_calls"] if run["tools"] else None,
            temperature=run["temperature"],
            top_p=run["top_p"],
            max_tokens=max_tokens,
            response_format=chat_response_format(run["response_format"]),
            reasoning_effort=run["reasoning_effort"],
        )
        turn = Turn(
            citations=CitationScanner(sources_of_steps(steps), paths_of_steps(steps)),
            images=unshown_images(steps, built.own.values()),
            calls_before=_server_calls(steps),
        )
        return TurnPlan(
            request=engine_search.shape(route, steps, request),
            turn=turn,
            prompt_tokens=prompt.tokens,
            usage=usage,
        )


def _server_calls(steps: Sequence[Mapping[Any, Any]]) -> dict[str, int]:
    """How many calls of each tool type the run's earlier steps hold."""
    counts: dict[str, int] = {}
    for step in steps:
        if step["step_details"].get("type") != "tool_calls":
            continue
        for item in step["step_details"]["tool_calls"]:
            counts[item["type"]] = counts.get(item["type"], 0) + 1
    return counts


def _parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [part for m in messages if isinstance(m.get("content"), list) for part in m["content"]]
