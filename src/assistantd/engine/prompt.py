"""Turn a thread and a run into Chat Completions messages, truncated to the run's budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.engine.tokens import TokenCounter


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, Any]]
    tokens: int
    dropped: int  # history messages left out by truncation


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


def build_prompt(
    *,
    instructions: str,
    history: Sequence[Mapping[Any, Any]],
    run_turns: list[dict[str, Any]],
    truncation: Mapping[Any, Any],
    budget: int,
    counter: TokenCounter,
    images: Mapping[str, str] | None = None,
) -> Prompt:
    """System + thread history + this run's turns, dropping the oldest history to fit `budget`.

    `last_messages` keeps only the newest N history messages first; `auto` then drops the
    oldest until the prompt fits. This run's own turns are never dropped.
    """
    system = [{"role": "system", "content": instructions}] if instructions else []
    chat_history = [message_to_chat(row, images) for row in history]
    dropped = 0
    if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        keep = int(truncation["last_messages"])
        dropped = max(0, len(chat_history) - keep)
        chat_history = chat_history[dropped:]
    fixed = counter.messages(system + run_turns)
    costs = [counter.message(m) for m in chat_history]
    total = fixed + sum(costs)
    start = 0
    while total > budget and start < len(chat_history):
        total -= costs[start]
        start += 1
    if total > budget:
        raise PromptTooLong(total, budget)
    return Prompt(
        messages=system + chat_history[start:] + run_turns, tokens=total, dropped=dropped + start
    )
