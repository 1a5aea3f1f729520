"""A run on a long thread must not stall the server: its prompt is read, converted and counted
in short stretches of the event loop, and the model still gets the right prompt, truncated to
the context window as before.

The server's opt-in lag monitor (`ASSISTANTD_DEBUG_LOOP_LAG_MS`) logs every stretch in which its
event loop ran nothing else, with the loop thread's CPU time in it; the bound asserted here is
generous (machines running the tests are noisy), `bench/loop_lag.py` measures the real figure.
Before the fix, reading and counting this thread in one go held the loop for 250-900 ms.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import bpe_openai
import httpx
import pytest

from tests.conftest import ServerFactory, sdk_client
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream

MESSAGES = 2000
FILLER = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 80)[:4000]
CONTEXT = 200_000  # ASSISTANTD_UPSTREAM_CONTEXT_LENGTH: ~200 of the 2,000 messages fit
ANSWER_RESERVE = 4096  # what the engine keeps free for the answer (min(4096, context / 4))
INSTRUCTIONS = "You answer questions about the notes."
LOG_FROM_MS = 50
BOUND_MS = 100.0
BLOCKED = re.compile(r"event loop blocked (\d+(?:\.\d+)?) ms \(cpu (\d+(?:\.\d+)?) ms\)")
HEADERS = {"OpenAI-Beta": "assistants=v2", "Authorization": "Bearer sk-test"}


def note(i: int) -> str:
    return f"Note {i}: {FILLER}"


def fill(server: ServerProcess, thread_id: str, count: int) -> None:
    """`count` user messages from four concurrent clients: their order in the thread is not
    their numbering, so tests read it back (`thread_order`)."""
    local = threading.local()

    def add(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=60)
        body = {"role": "user", "content": note(i)}
        local.client.post(f"/threads/{thread_id}/messages", json=body).raise_for_status()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(add, range(count)))


def thread_order(server: ServerProcess, thread_id: str) -> list[str]:
    """The thread's message texts oldest first, as the server orders them."""
    texts: list[str] = []
    after: str | None = None
    with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=60) as client:
        while True:
            params: dict[str, str | int] = {"order": "asc", "limit": 100}
            if after:
                params["after"] = after
            page = client.get(f"/threads/{thread_id}/messages", params=params).json()
            texts += [m["content"][0]["text"]["value"] for m in page["data"]]
            if not page["has_more"]:
                return texts
            after = page["last_id"]


def tokens(text: str) -> int:
    return len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))


def stretches(server: ServerProcess, offset: int) -> list[tuple[float, float]]:
    assert server.log_path is not None
    text = server.log_path.read_bytes()[offset:].decode(errors="replace")
    return [(float(m.group(1)), float(m.group(2))) for m in BLOCKED.finditer(text)]


@pytest.mark.slow
def test_run_on_a_long_thread_does_not_block_the_loop(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(
        env={
            "ASSISTANTD_DEBUG_LOOP_LAG_MS": str(LOG_FROM_MS),
            "ASSISTANTD_UPSTREAM_CONTEXT_LENGTH": str(CONTEXT),
        }
    ).start()
    assert server.log_path is not None
    assert "loop lag monitor on" in server.log_path.read_text()
    client = sdk_client(server)
    thread = client.beta.threads.create()
    fill(server, thread.id, MESSAGES)
    assistant = client.beta.assistants.create(model="gpt-4o", instructions=INSTRUCTIONS)
    history = thread_order(server, thread.id)
    assert len(history) == MESSAGES
    # The process's first run also pays for one-time work (lazy imports, the upstream
    # connection): done first, on a one-message thread, so that what is measured is the thread.
    warm_up = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    first = client.beta.threads.runs.create_and_poll(
        thread_id=warm_up.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert first.status == "completed", first.last_error
    model.reset()

    offset = server.log_path.stat().st_size
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    blocked = stretches(server, offset)
    assert all(cpu <= BOUND_MS for _, cpu in blocked), blocked

    # The prompt: the system message, then the newest history that fits, oldest first.
    (request,) = model.requests
    sent = request["messages"]
    assert sent[0] == {"role": "system", "content": INSTRUCTIONS}
    budget = CONTEXT - min(ANSWER_RESERVE, CONTEXT // 4)
    used = 4 + tokens(INSTRUCTIONS) + 3
    kept = 0
    for text in reversed(history):
        cost = 4 + tokens(text)
        if used + cost > budget:
            break
        used += cost
        kept += 1
    assert 0 < kept < MESSAGES
    assert [m["content"] for m in sent[1:]] == history[-kept:]
    assert all(m["role"] == "user" for m in sent[1:])


def test_text_that_looks_like_a_special_token_is_an_ordinary_message(
    server: ServerProcess, model: ScriptedUpstream
) -> None:
    # The token counter refused it (ValueError), which crashed the run: `server_error`.
    client = sdk_client(server)
    text = "What does <|endoftext|> mean in <|endofprompt|>?"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    assistant = client.beta.assistants.create(model="gpt-4o")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    assert run.status == "completed", run.last_error
    assert model.requests[-1]["messages"] == [{"role": "user", "content": text}]
    assert run.usage is not None
