"""Real sandboxes for the tests in this folder: one backend and one event loop for the run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from assistantd.sandbox import BubblewrapBackend, KernelSession, SandboxLimits, SessionManager
from assistantd.sandbox.limits import MIB

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
SANDBOX_PYTHON = Path(
    os.environ.get("ASSISTANTD_SANDBOX_PYTHON", str(REPO / ".venv-sandbox" / "bin" / "python"))
)
# Smaller than the defaults so that the abuse tests hit the limits quickly.
TEST_LIMITS = SandboxLimits(
    memory_bytes=768 * MIB,
    data_dir_bytes=128 * MIB,
    tmp_bytes=64 * MIB,
    pids=64,
    interrupt_grace_seconds=1.5,
)


class Loop:
    """One event loop for every test of the folder (sessions are bound to it)."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    def close(self) -> None:
        self._runner.close()


@pytest.fixture(scope="session")
def loop() -> Iterator[Loop]:
    runner = Loop()
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def sandbox_backend(loop: Loop) -> Iterator[BubblewrapBackend]:
    backend = BubblewrapBackend(SANDBOX_PYTHON, limits=TEST_LIMITS)
    probe = loop.run(backend.probe())
    if not probe.available:
        loop.run(backend.aclose())
        pytest.skip(f"the code_interpreter sandbox cannot run here: {probe.reason}")
    yield backend
    loop.run(backend.aclose())


@pytest.fixture(scope="session")
def sessions_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sessions")


@pytest.fixture
def manager(
    loop: Loop, sandbox_backend: BubblewrapBackend, sessions_root: Path
) -> Iterator[SessionManager]:
    mgr = SessionManager(sandbox_backend, sessions_root, max_sessions=4)
    yield mgr
    loop.run(mgr.close_all())


@pytest.fixture(scope="module")
def shared_session(
    loop: Loop, sandbox_backend: BubblewrapBackend, sessions_root: Path
) -> Iterator[KernelSession]:
    """A session that the well-behaved tests of a module share (they use their own names)."""
    session = loop.run(sandbox_backend.start_session(sessions_root / "shared"))
    yield session
    loop.run(session.close())


@pytest.fixture
def bystander(
    loop: Loop, sandbox_backend: BubblewrapBackend, sessions_root: Path
) -> Iterator[KernelSession]:
    """Another session, with state, that must be unaffected by what a test does."""
    session = loop.run(sandbox_backend.start_session(sessions_root / "bystander"))
    result = loop.run(session.execute("marker = 'still here'", timeout=10))
    assert result.error is None
    yield session
    loop.run(session.close())


def assert_answers(loop: Loop, session: KernelSession) -> None:
    """The session is alive, kept its state and runs code."""
    result = loop.run(session.execute("print(marker)", timeout=10))
    assert result.error is None, result.logs
    assert result.logs == "still here\n"
