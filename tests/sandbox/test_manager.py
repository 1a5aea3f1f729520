"""SessionManager: one session per key, idle reaping, the bound on live sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistantd.sandbox import (
    BubblewrapBackend,
    InputFile,
    SandboxBusy,
    SessionDied,
    SessionManager,
)

from .conftest import Loop


def test_one_session_per_key(loop: Loop, manager: SessionManager) -> None:
    loop.run(manager.execute("thread_a", "who = 'a'", timeout=10))
    loop.run(manager.execute("thread_b", "who = 'b'", timeout=10))
    assert loop.run(manager.execute("thread_a", "who", timeout=10)).logs == "'a'\n"
    assert loop.run(manager.execute("thread_b", "who", timeout=10)).logs == "'b'\n"
    assert len(manager) == 2


def test_input_files_with_a_call(loop: Loop, manager: SessionManager) -> None:
    files = [InputFile("a.txt", b"first")]
    result = loop.run(
        manager.execute("files", "open('/mnt/data/a.txt').read()", timeout=10, input_files=files)
    )
    assert result.logs == "'first'\n"
    assert result.new_files == []
    more = [*files, InputFile("b.txt", b"second")]
    code = "open('/mnt/data/b.txt').read(), open('/mnt/data/out.txt', 'w').write('o')"
    result = loop.run(manager.execute("files", code, timeout=10, input_files=more))
    assert result.logs == "('second', 1)\n"
    assert [f.path for f in result.new_files] == ["/mnt/data/out.txt"]
    assert loop.run(manager.read_output("files", "/mnt/data/out.txt")) == b"o"


def test_close_one_key(loop: Loop, manager: SessionManager) -> None:
    loop.run(manager.execute("doomed", "x = 1", timeout=10))
    loop.run(manager.close("doomed"))
    assert not manager.has_session("doomed")
    with pytest.raises(SessionDied):
        loop.run(manager.read_output("doomed", "/mnt/data/x"))
    assert "NameError" in loop.run(manager.execute("doomed", "x", timeout=10)).logs


@pytest.mark.slow
def test_idle_sessions_are_reaped(
    loop: Loop, sandbox_backend: BubblewrapBackend, sessions_root: Path
) -> None:
    manager = SessionManager(sandbox_backend, sessions_root, idle_timeout=0.5)
    try:
        loop.run(manager.execute("sleepy", "x = 1", timeout=10))
        assert manager.has_session("sleepy")
        loop.run(asyncio.sleep(1.2))
        assert not manager.has_session("sleepy")
        assert "NameError" in loop.run(manager.execute("sleepy", "x", timeout=10)).logs
    finally:
        loop.run(manager.close_all())
    assert len(manager) == 0


@pytest.mark.slow
def test_the_number_of_sessions_is_bounded(
    loop: Loop, sandbox_backend: BubblewrapBackend, sessions_root: Path
) -> None:
    manager = SessionManager(sandbox_backend, sessions_root, max_sessions=2)

    async def scenario() -> None:
        await manager.execute("one", "1", timeout=10)
        await manager.execute("two", "2", timeout=10)
        await manager.execute("one", "1", timeout=10)  # "two" is now the least recently used
        await manager.execute("three", "3", timeout=10)
        assert len(manager) == 2
        assert manager.has_session("one")
        assert manager.has_session("three")
        assert not manager.has_session("two")
        # With every session busy, a new key is refused rather than queued.
        busy = [
            asyncio.create_task(manager.execute(key, "import time; time.sleep(2)", timeout=10))
            for key in ("one", "three")
        ]
        await asyncio.sleep(0.3)
        with pytest.raises(SandboxBusy):
            await manager.execute("four", "4", timeout=10)
        await asyncio.gather(*busy)
        assert (await manager.execute("four", "4", timeout=10)).logs == "4\n"

    try:
        loop.run(scenario())
    finally:
        loop.run(manager.close_all())
