"""Crash-test machinery: a slow model that answers by the tag in the conversation, a fleet of
server processes on one database that can be killed with SIGKILL, and a look at the database.

The model is scripted per run rather than by a FIFO queue: when a server dies mid-turn and the
turn is resumed elsewhere, the resumed call must get the same answer as the lost one, whichever
order concurrent runs reach the model in.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import threading
from collections import Counter
from typing import Any

import psycopg
from openai.types.beta import FunctionToolParam

from tests.support.server import ServerProcess
from tests.support.upstream import Reply, ScriptedUpstream, Text, ToolCalls

FUNCTION = "lookup"
LOOKUP_TOOL: FunctionToolParam = {
    "type": "function",
    "function": {
        "name": FUNCTION,
        "parameters": {"type": "object", "properties": {"tag": {"type": "string"}}},
    },
}
TEXT_CHUNKS = 20  # a slow answer streams in this many deltas

_TAG = re.compile(r"\[crash:([a-z_]+):([0-9a-f]+)\]")


def tag_text(kind: str, key: str) -> str:
    """The marker a run's user messages carry: it tells the model what to answer."""
    return f"[crash:{kind}:{key}]"


def calls_function(kind: str) -> bool:
    return kind.endswith("fn")


def answer_text(tag: str) -> str:
    return f"Answer for {tag}: " + " ".join(f"w{i}" for i in range(12)) + "."


def tool_arguments(tag: str) -> str:
    return json.dumps({"tag": tag})


def tool_output(tag: str) -> str:
    return f"out-{tag}"


def tool_answer_text(tag: str, output: str) -> str:
    return f"After {FUNCTION} for {tag} the tool said {output}."


def _user_tag(messages: list[Any]) -> str | None:
    found: list[str] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            found += [tag_text(k, v) for k, v in _TAG.findall(json.dumps(message.get("content")))]
    return found[-1] if found else None


def _tool_result(messages: list[Any]) -> str | None:
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "tool":
        return str(last.get("content"))
    return None


class CrashModel(ScriptedUpstream):
    """A slow model: each answer streams over about `stream_seconds`.

    A run whose tag kind ends in `fn` first calls `lookup`, then answers with the tool's output;
    any other run answers at once. `calls[(tag, turn)]` counts the requests per run and turn
    (`"first"`, or `"after_tool"` when the conversation ends with a tool result).
    """

    def __init__(self, stream_seconds: float = 1.0) -> None:
        super().__init__()
        self.stream_seconds = stream_seconds
        self.calls: Counter[tuple[str, str]] = Counter()
        self.untagged = 0

    def _record(self, body: dict[str, Any]) -> Reply:
        # Replaces the FIFO queue of ScriptedUpstream: the reply depends on the request only.
        messages = body.get("messages") or []
        tag = _user_tag(messages)
        result = _tool_result(messages)
        with self._lock:
            self.requests.append(body)
            if tag is None:
                self.untagged += 1
            else:
                self.calls[(tag, "first" if result is None else "after_tool")] += 1
            self._lock.notify_all()
        pause = self.stream_seconds / TEXT_CHUNKS
        if tag is None:
            return Text("untagged")
        if result is not None:
            return self._slow_text(tool_answer_text(tag, result), pause)
        match = _TAG.search(tag)
        assert match is not None
        if calls_function(match.group(1)):
            # Half the time before the first byte, half while the arguments stream.
            return ToolCalls(
                [(FUNCTION, tool_arguments(tag))],
                delay=self.stream_seconds / 2,
                chunk_delay=self.stream_seconds / 10,
            )
        return self._slow_text(answer_text(tag), pause)

    @staticmethod
    def _slow_text(content: str, pause: float) -> Text:
        size = max(1, -(-len(content) // TEXT_CHUNKS))
        return Text(content, chunk_size=size, chunk_delay=pause)

    def calls_of(self, tag: str, turn: str) -> int:
        with self._lock:
            return self.calls[(tag, turn)]


class Fleet:
    """Server processes sharing one database; each can be SIGKILLed and started again on the
    same port, so a client that fails over just tries the next address."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.servers = servers
        self._lock = threading.Lock()

    @property
    def urls(self) -> list[str]:
        return [server.base_url for server in self.servers]

    def start(self) -> None:
        for server in self.servers:
            server.start()

    def alive(self) -> list[int]:
        with self._lock:
            return [i for i, s in enumerate(self.servers) if s.process is not None]

    def kill(self, index: int) -> None:
        with self._lock:
            self.servers[index].stop(signal.SIGKILL)

    def restart(self, index: int) -> None:
        with self._lock:
            self.servers[index].start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def logs(self) -> list[str]:
        return [str(server.log_path) for server in self.servers]


def leftovers(server: ServerProcess) -> dict[str, list[tuple[Any, ...]]]:
    """What the database holds that a settled server should not: unfinished runs, steps and
    messages, and run jobs (a finished job is deleted)."""
    queries = {
        "runs": "SELECT id, status FROM runs WHERE status NOT IN "
        "('completed', 'failed', 'cancelled', 'expired', 'incomplete')",
        "run_steps": "SELECT id, run_id, status FROM run_steps WHERE status = 'in_progress'",
        "messages": "SELECT id, run_id, status FROM messages WHERE status = 'in_progress'",
        "jobs": "SELECT id, ref_id, status, attempts FROM jobs WHERE kind = 'run'",
    }
    if server.database_url is None:
        path = server.data_dir / "assistantd.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return {name: [tuple(r) for r in conn.execute(q)] for name, q in queries.items()}
    url = server.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as pg:
        return {name: [tuple(r) for r in pg.execute(q).fetchall()] for name, q in queries.items()}
