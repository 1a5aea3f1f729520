"""Crash: SIGKILL the server at random moments while polled, streamed, function-calling and
create-and-run runs are in flight on a slow model, then restart it.

On SQLite the one process dies and is restarted; on PostgreSQL two processes share the database
and one of them dies while the other serves on (the dead one is restarted at once or later).
Afterwards every run has ended (completed, or failed as "interrupted N times", the documented
end of a run interrupted on 3 attempts), every accepted message and run is there exactly once,
no turn was answered twice, nothing is left in_progress, and the model was not called more
often than the attempts allow. The seed is printed; ASSISTANTD_CRASH_SEED replays a schedule.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.chaos import (
    FUNCTION,
    LOOKUP_TOOL,
    CrashModel,
    Fleet,
    answer_text,
    calls_function,
    leftovers,
    tool_answer_text,
    tool_arguments,
    tool_output,
)
from tests.support.crash_client import SDK_HTTP, STREAM_SILENCE, Task, Workload
from tests.support.server import ServerProcess

CLIENTS = 5
KILLS = 3
SETTLE_SECONDS = 60.0  # after the last restart, every run must have ended within this
MAX_ATTEMPTS = 3  # a turn is attempted at most this often (docs: "interrupted N times")
SERVER_ENV = {
    "ASSISTANTD_JOB_LEASE_SECONDS": "2",  # a dead process's runs are taken over after 2 s
    "ASSISTANTD_JOB_POLL_SECONDS": "0.2",
    "ASSISTANTD_WORKERS": "2",  # fewer slots than clients: runs also wait queued, and die so
    # Longer than the client's read timeout: a stream that only sends keep-alives is caught.
    "ASSISTANTD_STREAM_KEEPALIVE_SECONDS": "120",
}


@pytest.fixture
def crash_model() -> Iterator[CrashModel]:
    model = CrashModel(stream_seconds=1.0)
    model.start()
    try:
        yield model
    finally:
        model.stop()


def crash_seed() -> int:
    given = os.environ.get("ASSISTANTD_CRASH_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**31)


def chaos(fleet: Fleet, rng: random.Random) -> list[str]:
    """KILLS times: wait a random moment, SIGKILL one live process, start it again now or (with
    a survivor) later. Every process is running again when this returns."""
    started = time.monotonic()
    events: list[str] = []
    several = len(fleet.servers) > 1
    for _ in range(KILLS):
        time.sleep(rng.uniform(1.0, 4.0))
        alive = fleet.alive()
        if several and len(alive) == 1:  # keep a survivor: bring the dead one back first
            for index in set(range(len(fleet.servers))) - set(alive):
                fleet.restart(index)
                events.append(f"{time.monotonic() - started:.1f}s start {index}")
            alive = fleet.alive()
        victim = rng.choice(alive)
        fleet.kill(victim)
        events.append(f"{time.monotonic() - started:.1f}s kill -9 {victim}")
        if not several or rng.random() < 0.5:
            time.sleep(rng.uniform(0.1, 1.5))
            fleet.restart(victim)
            events.append(f"{time.monotonic() - started:.1f}s start {victim}")
    for index in set(range(len(fleet.servers))) - set(fleet.alive()):
        fleet.restart(index)
        events.append(f"{time.monotonic() - started:.1f}s start {index}")
    return events


def _text(message: Any) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


def tagged_threads(client: openai.OpenAI, tag: str) -> list[str]:
    page = client.get(
        "/threads", cast_to=SDK_HTTP.Response, options={"params": {"metadata[tag]": tag}}
    )
    return [thread["id"] for thread in page.json()["data"]]


def check_task(
    task: Task, client: openai.OpenAI, model: CrashModel, states: Counter[str]
) -> list[str]:
    """Every invariant for one task's run; the broken ones, described."""
    where = f"{task.kind} {task.run_id} (thread {task.thread_id}, {task.tag})"
    if task.problem is not None:
        return [f"{where}: the client failed: {task.problem}"]
    silent = [
        f"{where}: its stream sent nothing for {STREAM_SILENCE:g} s; the run was then {status}"
        for status in task.silent_streams
    ]
    if task.final is None or task.run_id is None or task.thread_id is None:
        return [*silent, f"{where}: never reached a terminal state"]
    problems = silent
    run = client.beta.threads.runs.retrieve(task.run_id, thread_id=task.thread_id)
    error = run.last_error.message if run.last_error else None
    states[f"{run.status}" + (f" ({re.sub(r'[0-9]+', 'N', error)})" if error else "")] += 1
    interrupted = run.status == "failed" and error is not None and "interrupted" in error
    if run.status != "completed" and not interrupted:
        problems.append(f"{where}: ended {run.status}: {error}")

    threads = tagged_threads(client, task.tag)
    if threads != [task.thread_id]:
        problems.append(f"{where}: threads with its tag {threads}, accepted one")
    runs = [r.id for r in client.beta.threads.runs.list(task.thread_id, limit=100).data]
    if runs != [task.run_id]:
        problems.append(f"{where}: runs on its thread {runs}, accepted one")
    messages = client.beta.threads.messages.list(task.thread_id, order="asc", limit=100).data
    users = [m.id for m in messages if m.role == "user"]
    if users != task.messages:
        problems.append(f"{where}: user messages {users}, accepted {task.messages}")
    steps = client.beta.threads.runs.steps.list(
        task.run_id, thread_id=task.thread_id, order="asc", limit=100
    ).data
    answers = [m for m in messages if m.role == "assistant"]
    unfinished = [s.id for s in steps if s.status == "in_progress"]
    unfinished += [m.id for m in messages if m.status == "in_progress"]
    if unfinished:
        problems.append(f"{where}: left in_progress: {unfinished}")
    if any(m.run_id != task.run_id for m in answers):
        problems.append(f"{where}: assistant messages of another run on its thread")
    shown = [
        s.step_details.message_creation.message_id  # type: ignore[union-attr]
        for s in steps
        if s.type == "message_creation"
    ]
    if shown != [m.id for m in answers]:
        problems.append(
            f"{where}: message_creation steps name {shown}, assistant messages are "
            f"{[(m.id, m.status) for m in answers]}"
        )

    function = calls_function(task.kind)
    expected = (
        tool_answer_text(task.tag, tool_output(task.tag)) if function else answer_text(task.tag)
    )
    kinds = ["tool_calls", "message_creation"] if function else ["message_creation"]
    if run.status == "completed":
        if [(s.type, s.status) for s in steps] != [(kind, "completed") for kind in kinds]:
            problems.append(f"{where}: steps {[(s.type, s.status) for s in steps]}")
        if [(m.status, _text(m)) for m in answers] != [("completed", expected)]:
            problems.append(
                f"{where}: answers {[(m.id, m.status, _text(m)) for m in answers]}, "
                "expected exactly one completed answer for its one text turn"
            )
    elif sum(m.status == "completed" for m in answers) > 1:
        problems.append(f"{where}: two completed answers: {[m.id for m in answers]}")
    if function:
        rounds = {tuple(calls) for calls in task.required}
        if len(rounds) > 1:
            problems.append(f"{where}: the tool turn was answered twice: {sorted(rounds)}")
        tool_steps = [s for s in steps if s.type == "tool_calls"]
        if run.status == "completed":
            calls = [
                (c.function.name, c.function.arguments, c.function.output)  # type: ignore[union-attr]
                for s in tool_steps
                for c in s.step_details.tool_calls  # type: ignore[union-attr]
            ]
            wanted = [(FUNCTION, tool_arguments(task.tag), tool_output(task.tag))]
            if calls != wanted:
                problems.append(f"{where}: tool calls {calls}")

    first, after = model.calls_of(task.tag, "first"), model.calls_of(task.tag, "after_tool")
    if not 1 <= first <= MAX_ATTEMPTS:
        problems.append(f"{where}: the model was called {first} times for its first turn")
    if function and run.status == "completed" and not 1 <= after <= MAX_ATTEMPTS:
        problems.append(f"{where}: the model was called {after} times after the tool output")
    if not function and after:
        problems.append(f"{where}: {after} model calls after a tool output it never had")
    return problems


def settled_leftovers(server: ServerProcess) -> dict[str, list[tuple[Any, ...]]]:
    """The database's unfinished rows, once they stop changing (a finished run's job is
    deleted just after the run's last commit) or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        found = {name: rows for name, rows in leftovers(server).items() if rows}
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_9_while_runs_are_in_flight(
    backend: str, make_server: ServerFactory, crash_model: CrashModel
) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    env = {**SERVER_ENV, "ASSISTANTD_UPSTREAM_BASE_URL": crash_model.base_url}
    first = make_server(env=env)
    servers = [first]
    if backend == "postgres":
        # A second process on the same database: one of them dies, the other serves on.
        servers.append(
            ServerProcess(
                data_dir=first.data_dir, database_url=first.database_url, env=dict(first.env)
            )
        )
    fleet = Fleet(servers)
    try:
        fleet.start()
        assistant_id = (
            sdk_client(first).beta.assistants.create(model="gpt-4o", tools=[LOOKUP_TOOL]).id
        )
        work = Workload(fleet.urls, assistant_id, seed, time.monotonic() + 600)
        work.start(CLIENTS)
        schedule = chaos(fleet, rng)
        time.sleep(1.0)  # new work against the restarted fleet, then no more
        work.set_deadline(time.monotonic() + SETTLE_SECONDS)
        stuck = work.join()

        client = sdk_client(first)
        states: Counter[str] = Counter()
        problems = [p for task in work.tasks for p in check_task(task, client, crash_model, states)]
        if stuck:
            problems.append(f"client threads still running at the deadline: {stuck}")
        left = settled_leftovers(first)
        if left:
            problems.append(f"unfinished rows in the database: {left}")
        if crash_model.untagged:
            problems.append(f"{crash_model.untagged} model calls carried no run's tag")
        resumed = sum(n - 1 for n in crash_model.calls.values() if n > 1)
        summary = (
            f"seed {seed} (ASSISTANTD_CRASH_SEED={seed}) on {backend}: {schedule}; "
            f"{len(work.tasks)} runs {dict(Counter(t.kind for t in work.tasks))}; "
            f"states {dict(states)}; {resumed} model calls repeated a turn; "
            f"{sum(t.stream_cuts for t in work.tasks)} streams cut; "
            f"accepted, answer lost: {dict(Counter(w for t in work.tasks for w in t.lost))}; "
            f"logs {fleet.logs()}"
        )
        print(summary)
        assert not problems, summary + "\n" + "\n".join(problems)
        assert sum(t.run_id is not None for t in work.tasks) >= CLIENTS, summary
    finally:
        fleet.stop()
