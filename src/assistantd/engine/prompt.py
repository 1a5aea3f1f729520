"""Turn a thread and a run into Chat Completions messages, truncated to the run's budget.

History is fitted newest first (`HistoryFit`), so a builder can stop reading a long thread as
soon as the budget is full; the work is done in steps that a caller on the event loop can pace.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.engine.tokens import TokenCounter


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, Any]]
    tokens: int


class PromptTooLong(Exception):
    """Even with all droppable history removed the prompt exceeds the budget."""

    def __init__(self, tokens: int, budget: int) -> None:
        super().__init__(f"the prompt needs {tokens} tokens, the budget is {budget}")
        self.tokens = tokens
        self.budget = budget


def message_to_chat(
    row: Mapping[Any, Any], images: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A thread message as a Chat Completions message (text joined; images as parts).
    `images` maps image_file ids to data URLs; a file missing there is named in text."""
    parts: list[dict[str, Any]] = []
    for part in row["content"]:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif kind == "image_url":
            parts.append({"type": "image_url", "image_url": dict(part["image_url"])})
        elif kind == "image_file":
            file_id = part["image_file"]["file_id"]
            url = (images or {}).get(file_id)
            if url is None:
                parts.append({"type": "text", "text": f"[image file {file_id} is not available]"})
            else:
                image = {"url": url, "detail": part["image_file"].get("detail") or "auto"}
                parts.append({"type": "image_url", "image_url": image})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
    if all(p["type"] == "text" for p in parts):
        return {"role": row["role"], "content": "\n".join(p["text"] for p in parts)}
    return {"role": row["role"], "content": parts}


def model_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A stored tool call as the model made it: function calls carry it on the wire, calls the
    server executed itself (file_search) keep it under `_model`."""
    if "_model" in item:
        return {"id": item["id"], **item["_model"]}
    function = item["function"]
    return {
        "id": item["id"],
        "name": function["name"],
        "arguments": function["arguments"],
        "output": function.get("output"),
    }


def run_turns_to_chat(
    steps: Sequence[Mapping[Any, Any]], messages_by_id: Mapping[Any, Mapping[Any, Any]]
) -> list[dict[str, Any]]:
    """What this run already said and did (earlier turns), in order."""
    out: list[dict[str, Any]] = []
    for step in steps:
        details = step["step_details"]
        if details["type"] == "message_creation":
            message = messages_by_id.get(details["message_creation"]["message_id"])
            if message is not None and message["content"]:
                out.append(message_to_chat(message))
            continue
        calls = [model_view(c) for c in details["tool_calls"]]
        if not calls or any(c["output"] is None for c in calls):
            continue  # a turn still waiting for outputs is not part of the conversation yet
        out.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"] or "{}"},
                    }
                    for c in calls
                ],
            }
        )
        out.extend({"role": "tool", "tool_call_id": c["id"], "content": c["output"]} for c in calls)
    return out


def system_messages(instructions: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []


def keep_limit(truncation: Mapping[Any, Any]) -> int | None:
    """How many history messages `last_messages` keeps at most (None: no such limit)."""
    if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        return int(truncation["last_messages"])
    return None


class HistoryFit:
    """History messages offered newest first, kept while the prompt fits `budget`: the same
    result as dropping the oldest until it fits, without looking at the ones that cannot."""

    def __init__(self, fixed_tokens: int, budget: int, keep: int | None) -> None:
        self.tokens = fixed_tokens  # system message and this run's turns: never dropped
        self.budget = budget
        self.keep = keep
        self.kept: list[dict[str, Any]] = []  # newest first
        self.full = keep == 0

    def offer_steps(
        self, message: dict[str, Any], counter: TokenCounter
    ) -> Generator[None, None, bool]:
        """Keep `message` (older than every one kept so far) if it fits; False once full."""
        if self.full:
            return False
        cost = yield from counter.message_steps(message)
        if self.tokens + cost > self.budget:
            self.full = True
            return False
        self.tokens += cost
        self.kept.append(message)
        if self.keep is not None and len(self.kept) >= self.keep:
            self.full = True
        return True

    def prompt(self, system: list[dict[str, Any]], run_turns: list[dict[str, Any]]) -> Prompt:
        if self.tokens > self.budget:
            raise PromptTooLong(self.tokens, self.budget)
        return Prompt(messages=system + self.kept[::-1] + run_turns, tokens=self.tokens)
