"""Rows of a thread, its messages and a run as the services store them, for unit tests that
drive the engine or the store directly on a migrated database."""

from __future__ import annotations

import time
from typing import Any


def thread_row(thread_id: str) -> dict[str, Any]:
    return {
        "id": thread_id,
        "project_id": "default",
        "created_at": 0,
        "tool_resources": {},
        "metadata": {},
    }


def message_row(message_id: str, thread_id: str, role: str, text: str, at: int) -> dict[str, Any]:
    return {
        "id": message_id,
        "project_id": "default",
        "thread_id": thread_id,
        "created_at": at,
        "role": role,
        "status": "completed",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "attachments": [],
        "metadata": {},
        "assistant_id": None,
        "run_id": None,
        "completed_at": at,
        "incomplete_at": None,
        "incomplete_details": None,
    }


def run_row(run_id: str, thread_id: str, **settings: Any) -> dict[str, Any]:
    """A queued run of a gpt-4o assistant, without tools, `settings` replacing columns."""
    row = {
        "id": run_id,
        "project_id": "default",
        "thread_id": thread_id,
        "assistant_id": "asst_x",
        "created_at": 0,
        "status": "queued",
        "model": "gpt-4o",
        "instructions": "Be brief.",
        "tools": [],
        "tool_resources": None,
        "metadata": {},
        "temperature": None,
        "top_p": None,
        "reasoning_effort": None,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
        "include": [],
        "required_action": None,
        "last_error": None,
        "incomplete_details": None,
        "usage": None,
        "expires_at": int(time.time()) + 600,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
    }
    unknown = set(settings) - set(row)
    assert not unknown, f"not run columns: {unknown}"
    row.update(settings)
    return row
