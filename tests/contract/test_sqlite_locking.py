"""SQLite shared with another process: a held write lock delays writes without blocking reads."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from tests.conftest import ServerFactory, sdk_client


def test_write_waits_for_another_process_and_reads_stay_fast(
    backend: str, make_server: ServerFactory
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's file lock only")
    server = make_server().start()
    try:
        client = sdk_client(server)
        thread = client.beta.threads.create()
        other = sqlite3.connect(
            server.data_dir / "assistantd.sqlite3", isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        result: dict[str, float | str] = {}

        def write() -> None:
            started = time.monotonic()
            message = client.beta.threads.messages.create(thread.id, role="user", content="late")
            result["elapsed"] = time.monotonic() - started
            result["id"] = message.id

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.2)
        started = time.monotonic()
        for _ in range(20):
            assert client.beta.threads.retrieve(thread.id).id == thread.id
        reads = time.monotonic() - started
        assert "id" not in result, "the write must wait for the lock"
        other.execute("COMMIT")
        writer.join(timeout=15)
        other.close()
        assert result["id"] == client.beta.threads.messages.list(thread.id).data[0].id
        assert float(result["elapsed"]) >= 0.2
        # Reads are served while the write waits: the event loop is not blocked by it. (Loose
        # bound: 20 lookups take well under a second even on a loaded machine.)
        assert reads < 5.0
    finally:
        server.stop()
