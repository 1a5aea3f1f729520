"""One session per key (a thread id): created on first use, reaped when idle, bounded in number."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from assistantd.sandbox.errors import SandboxBusy, SandboxUnavailable, SessionDied
from assistantd.sandbox.interface import SandboxBackend, Session
from assistantd.sandbox.results import ExecutionResult, InputFile

log = logging.getLogger(__name__)


class SessionManager:
    """Keeps at most `max_sessions` live sessions under `root_dir`, one per key. Past the bound
    the least recently used idle session is closed; when every session is running code,
    SandboxBusy. A session that died is dropped, and the next call on its key gets a new one."""

    def __init__(
        self,
        backend: SandboxBackend,
        root_dir: Path,
        *,
        idle_timeout: float = 3600.0,
        max_sessions: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._backend = backend
        self._root = root_dir
        self._idle_timeout = idle_timeout
        self._max = max_sessions
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._dirs: dict[str, Path] = {}
        self._used: dict[str, float] = {}  # key -> clock() when last handed out or finished
        self._leases: dict[str, int] = {}  # key -> calls running now
        self._starting: set[str] = set()
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Lock()  # guards the count of live + starting sessions
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._sessions)

    def has_session(self, key: str) -> bool:
        return key in self._sessions

    # Getting a session.

    async def session(self, key: str, input_files: Sequence[InputFile] = ()) -> Session:
        """The live session of `key` (started if needed) with `input_files` present in its
        /mnt/data (files added earlier under the same name are left as the code left them)."""
        if self._closed:
            raise SandboxUnavailable("the code interpreter is shutting down")
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            session = self._sessions.get(key)
            # A dead session still running a call is left to that call, which drops it.
            if session is not None and not session.alive and not session.busy:
                await self._drop(key)
                session = None
            if session is None:
                session = await self._start(key, input_files)
            elif input_files:
                await session.add_files(input_files)
            self._used[key] = self._clock()
            return session

    def _busy(self, key: str) -> bool:
        session = self._sessions.get(key)
        return self._leases.get(key, 0) > 0 or (session is not None and session.busy)

    async def _start(self, key: str, input_files: Sequence[InputFile]) -> Session:
        async with self._slots:
            if len(self._sessions) + len(self._starting) >= self._max:
                await self._evict_one()
            self._starting.add(key)
        session_dir = self._root / f"{secrets.token_hex(6)}"
        try:
            session = await self._backend.start_session(session_dir, input_files)
        except BaseException:
            shutil.rmtree(session_dir, ignore_errors=True)
            raise
        finally:
            self._starting.discard(key)
        self._sessions[key] = session
        self._dirs[key] = session_dir
        self.start_reaper()
        return session

    async def _evict_one(self) -> None:
        idle = [(self._used.get(key, 0.0), key) for key in self._sessions if not self._busy(key)]
        if not idle:
            raise SandboxBusy(
                f"all {self._max} code interpreter sessions are running code; try again later"
            )
        _, key = min(idle)
        log.info("sandbox: closing the least recently used session (%s) to make room", key)
        await self._drop(key)

    # Running code.

    async def execute(
        self,
        key: str,
        code: str,
        *,
        timeout: float,
        on_output: Callable[[str], None] | None = None,
        input_files: Sequence[InputFile] = (),
    ) -> ExecutionResult:
        """Run `code` in the session of `key`. Raises SessionDied when the kernel died during
        the call (the session is dropped: the next call starts afresh), SandboxUnavailable when
        no session can start, SandboxBusy when every slot is running code."""
        self._leases[key] = self._leases.get(key, 0) + 1
        try:
            session = await self.session(key, input_files)
            try:
                return await session.execute(code, timeout=timeout, on_output=on_output)
            except SessionDied:
                if self._sessions.get(key) is session:
                    await self._drop(key)
                raise
        finally:
            self._leases[key] -= 1
            if not self._leases[key]:
                del self._leases[key]
            if key in self._sessions:
                self._used[key] = self._clock()

    async def read_output(self, key: str, path: str, *, max_bytes: int | None = None) -> bytes:
        """Bytes of a file under the session's /mnt/data (e.g. an OutputFile's path)."""
        session = self._sessions.get(key)
        if session is None:
            raise SessionDied("no session for this key (it was closed or reaped)")
        return await session.read_output(path, max_bytes=max_bytes)

    async def copy_output(self, key: str, path: str, dest: Path) -> int:
        session = self._sessions.get(key)
        if session is None:
            raise SessionDied("no session for this key (it was closed or reaped)")
        return await session.copy_output(path, dest)

    # Ending sessions.

    async def close(self, key: str) -> None:
        """Close the session of `key` (e.g. its thread was deleted); no-op without one."""
        await self._drop(key)

    async def _drop(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        session_dir = self._dirs.pop(key, None)
        self._used.pop(key, None)
        if session is not None:
            await session.close()
        if session_dir is not None:
            shutil.rmtree(session_dir, ignore_errors=True)
        lock = self._key_locks.get(key)
        if lock is not None and not lock.locked():
            del self._key_locks[key]

    async def reap_idle(self) -> int:
        """Close sessions idle for longer than the idle timeout (and dead ones); how many."""
        now = self._clock()
        stale = [
            key
            for key, session in self._sessions.items()
            if not self._busy(key)
            and (not session.alive or now - self._used.get(key, now) > self._idle_timeout)
        ]
        for key in stale:
            await self._drop(key)
        return len(stale)

    def start_reaper(self) -> None:
        """Reap idle sessions in the background (started by the first session)."""
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = min(max(self._idle_timeout / 4, 0.05), 60.0)
        while self._sessions:
            await asyncio.sleep(interval)
            try:
                await self.reap_idle()
            except Exception:
                log.exception("sandbox: reaping idle sessions failed")

    async def close_all(self) -> None:
        """Close every session and stop reaping (at shutdown)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for key in list(self._sessions):
            await self._drop(key)
