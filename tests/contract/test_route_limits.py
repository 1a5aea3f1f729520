"""Model routes' limits: a route's runs past `max_concurrent_runs` wait `queued` and start in
the order they were created, while runs of other routes start at once. (The per-minute
budgets are unit tested with a clock of their own: tests/unit/test_route_limits.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream, Text

LIMITED = "limited-model"


@pytest.fixture(scope="module")
def limited(
    make_server: ServerFactory, upstream: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    config: Path = tmp_path_factory.mktemp("limits") / "assistantd.toml"
    config.write_text(
        f'[models."{LIMITED}"]\nbase_url = "{upstream.base_url}"\nmax_concurrent_runs = 2\n'
    )
    server = make_server(env={"ASSISTANTD_CONFIG": str(config)}).start()
    yield server
    server.stop()


def _start(client: openai.OpenAI, assistant_id: str, question: str, model: str) -> tuple[str, str]:
    run = client.beta.threads.create_and_run(
        assistant_id=assistant_id,
        model=model,
        thread={"messages": [{"role": "user", "content": question}]},
    )
    return run.thread_id, run.id


def _wait(client: openai.OpenAI, thread_id: str, run_id: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status not in ("queued", "in_progress"):
            return run.status
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout}s")


def _question_of(request: dict[str, object]) -> str:
    messages = request["messages"]
    assert isinstance(messages, list)
    return str(messages[-1]["content"])


def test_a_route_runs_at_most_its_limit_at_once_in_creation_order(
    limited: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(limited)
    assistant = client.beta.assistants.create(model=LIMITED)
    # Replies go to requests in the order they arrive. These delays make the route's places
    # free up one at a time (at 0.2, 0.8, 1.0 and 1.6 s), so each waiting run's request
    # arrives well apart from the next; only the first two start together.
    delays = [0.2, 0.8, 0.8, 0.8, 0.2, 0.2]
    model.push(*[Text(f"answer {i}", delay=delay) for i, delay in enumerate(delays)])
    runs = [_start(client, assistant.id, f"question {i}", LIMITED) for i in range(6)]
    assert [_wait(client, *run) for run in runs] == ["completed"] * 6
    assert model.peak_in_flight == 2
    # The waiting runs started in the order they were created.
    asked = [_question_of(r) for r in model.requests]
    assert set(asked[:2]) == {"question 0", "question 1"}
    assert asked[2:] == [f"question {i}" for i in range(2, 6)]


def test_a_full_route_does_not_hold_back_a_run_of_another_route(
    limited: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(limited)
    assistant = client.beta.assistants.create(model=LIMITED)
    model.push(Text("slow", delay=1.5), Text("slower", delay=2.5), Text("quick"))
    slow = [_start(client, assistant.id, f"slow {i}", LIMITED) for i in range(4)]
    model.wait_for_requests(2)
    other = _start(client, assistant.id, "other route", "gpt-4o")
    assert _wait(client, *other, timeout=1.2) == "completed"
    # The route's two places are still taken: its third and fourth runs have not started.
    waiting = [client.beta.threads.runs.retrieve(r, thread_id=t).status for t, r in slow[2:]]
    assert waiting == ["queued", "queued"]
    assert [_wait(client, *run) for run in slow] == ["completed"] * 4
    asked = [_question_of(r) for r in model.requests]
    assert set(asked[:2]) == {"slow 0", "slow 1"}
    assert asked[2:] == ["other route", "slow 2", "slow 3"]


def test_a_cancelled_queued_run_frees_nothing_and_ends_at_once(
    limited: ServerProcess, model: ScriptedUpstream
) -> None:
    client = sdk_client(limited)
    assistant = client.beta.assistants.create(model=LIMITED)
    model.push(Text("a", delay=1.0), Text("b", delay=1.0), Text("d"))
    runs = [_start(client, assistant.id, f"q {i}", LIMITED) for i in range(4)]
    model.wait_for_requests(2)
    cancelled = client.beta.threads.runs.cancel(runs[2][1], thread_id=runs[2][0])
    assert cancelled.status == "cancelled"
    assert [_wait(client, *run) for run in runs] == [
        "completed",
        "completed",
        "cancelled",
        "completed",
    ]
    asked = [_question_of(r) for r in model.requests]
    assert set(asked[:2]) == {"q 0", "q 1"}
    assert asked[2:] == ["q 3"]
