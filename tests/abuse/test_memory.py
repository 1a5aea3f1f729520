"""Memory under many distinct requests: what the server remembers per request stays bounded,
and requests that need no embedding model do not load one.

`bench/memory.py` is the soak that found these (it prints RSS every 1,000 requests)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistantd.clock import system_clock
from assistantd.errors import AuthenticationError
from assistantd.service.auth import CACHE_LIMIT, AuthService
from assistantd.store.database import Database
from assistantd.store.migrate import upgrade
from tests.conftest import upstream_env
from tests.support.server import ServerProcess
from tests.support.upstream import ScriptedUpstream


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_auth_cache_holds_only_the_answers_of_the_last_seconds(tmp_path: Path) -> None:
    """Random bearer tokens (a fuzzer, a scanner) each leave an answer in the cache. They used
    to pile up to 10,000 and then all be dropped at once (valid keys with them); now only
    answers younger than `cache_seconds` are kept, and never more than the limit."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.sqlite3'}"
    upgrade(url)
    clock = FakeMonotonic()

    async def scenario() -> None:
        db = Database(url)
        auth = AuthService(db, system_clock, cache_seconds=1.0, monotonic=clock)
        try:
            key = await auth.create_key("p", None)
            valid = f"Bearer {key.secret}"
            await auth.authenticate(valid)
            for _ in range(3000):
                with pytest.raises(AuthenticationError):
                    await auth.authenticate(f"Bearer sk-{secrets.token_hex(16)}")
            assert auth.cached_answers == 3001
            clock.now += 1.5  # every answer so far has expired
            with pytest.raises(AuthenticationError):
                await auth.authenticate("Bearer sk-one-more")
            assert auth.cached_answers == 1
            # A burst within one cache period stops at the limit, oldest answers out first.
            for _ in range(CACHE_LIMIT + 500):
                with pytest.raises(AuthenticationError):
                    await auth.authenticate(f"Bearer sk-{secrets.token_hex(16)}")
            assert auth.cached_answers == CACHE_LIMIT
            assert (await auth.authenticate(valid)).key_id == key.info.id
        finally:
            await db.close()

    asyncio.run(scenario())


@pytest.fixture
def plain_server(tmp_path: Path, upstream: ScriptedUpstream) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir=tmp_path, env=upstream_env(upstream)).start()
    yield server
    server.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_creates_without_files_do_not_load_the_embedding_model(
    plain_server: ServerProcess, model: ScriptedUpstream
) -> None:
    """The soak's first 1,000 requests grew RSS by ~200 MB: the first assistant create
    loaded (and ran) the local embedding model, though no file was attached anywhere."""
    assert plain_server.process is not None
    pid = plain_server.process.pid
    before = rss_mb(pid)
    with httpx.Client(base_url=plain_server.base_url, timeout=30) as http:
        assistant = http.post("/assistants", json={"model": "gpt-4o"}).json()
        http.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]})
        run = http.post(
            "/threads/runs",
            json={"assistant_id": assistant["id"], "thread": {"messages": []}},
        ).json()
        assert run["status"] == "queued"
    model.wait_for_requests(1)
    # Loading the model takes a second or two in the background; give it the time.
    for _ in range(30):
        if rss_mb(pid) - before > 100:
            break
        time.sleep(0.1)
    assert rss_mb(pid) - before < 100, f"{before:.0f} MB -> {rss_mb(pid):.0f} MB"
