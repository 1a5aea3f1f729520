"""The bubblewrap process of one session: spawned with its limits, watched, killed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.errors import SandboxUnavailable

_INFO_LIMIT = 64 * 1024
_LOG_TAIL_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class SpawnPlan:
    """What the child does between fork and exec, and as whom it runs (None: the server's own
    uid/gid)."""

    cgroup_procs: Sequence[str] = ()
    rlimits: Sequence[tuple[int, int]] = ()
    user: int | None = None
    group: int | None = None


def preexec_for(plan: SpawnPlan) -> Callable[[], None]:
    procs = [path.encode() for path in plan.cgroup_procs]
    limits = list(plan.rlimits)
    user, group = plan.user, plan.group

    def join_limit_and_drop() -> None:
        # Runs in the child between fork and exec: join the cgroups first, so that every
        # process bwrap creates is born inside them, and only then give up root (Popen's own
        # user= would switch before this runs, and an unprivileged uid may not join a cgroup).
        # Only plain system calls happen here, no lock another thread could hold (the server
        # has zmq and executor threads).
        pid = str(os.getpid()).encode()
        for path in procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in limits:
            resource.setrlimit(which, (value, value))
        if group is not None:
            os.setgroups([])
            os.setresgid(group, group, group)
        if user is not None:
            os.setresuid(user, user, user)

    return join_limit_and_drop


class _LogSink:
    """Drains the kernel's own stdout/stderr into a capped file and a short in-memory tail."""

    def __init__(self, fd: int, path: Path, cap: int) -> None:
        self._fd = fd
        self._file = path.open("ab")
        self._left = cap
        self.tail = bytearray()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        if self._left > 0:
            self._file.write(data[: self._left])
            self._file.flush()
            self._left -= len(data)
        self.tail += data
        del self.tail[:-_LOG_TAIL_BYTES]

    def close(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._file.close()


async def _read_until_eof(fd: int, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = bytearray()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        if chunk and len(data) < _INFO_LIMIT:
            data.extend(chunk)
        elif not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(done, timeout)
    finally:
        loop.remove_reader(fd)
    return bytes(data)


async def _open_root(child_pid: int, mnt_ns: int, marker: str, timeout: float) -> int:
    """A descriptor of the sandbox's final root. bwrap reports the child's pid before the child
    has built its filesystem (it even passes through an intermediate root), so wait until
    `marker` exists under /proc/<pid>/root."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    host_root = os.stat("/")
    while True:
        root_fd = os.open(f"/proc/{child_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        st = os.fstat(root_fd)
        ready = (st.st_dev, st.st_ino) != (host_root.st_dev, host_root.st_ino) and os.path.exists(
            f"/proc/self/fd/{root_fd}{marker}"
        )
        # The pid could have been reused if the sandbox died at once: check it is ours.
        if os.stat(f"/proc/{child_pid}/ns/mnt").st_ino != mnt_ns:
            os.close(root_fd)
            raise OSError("the sandbox exited during start-up")
        if ready:
            return root_fd
        os.close(root_fd)
        if loop.time() > deadline:
            raise TimeoutError("the sandbox's filesystem did not appear")
        await asyncio.sleep(0.002)


class SandboxProcess:
    """A running `bwrap` and the sandbox it created. `root_path` reaches the sandbox's own
    filesystem (its tmpfs folders) from the host without any host folder shared with it."""

    def __init__(self, popen: subprocess.Popen[bytes], child_pid: int, root_fd: int, log: _LogSink):
        self._popen = popen
        self.child_pid = child_pid
        self._root_fd = root_fd
        self._log = log

    @classmethod
    async def spawn(
        cls,
        argv: list[str],
        *,
        env: Mapping[str, str],
        pass_fds: Sequence[int],
        info_fd: int,
        close_after_spawn: Sequence[int],
        plan: SpawnPlan,
        log_path: Path,
        log_cap: int,
        ready_marker: str,
        timeout: float,
    ) -> SandboxProcess:
        """Start bwrap and wait until the sandbox exists (the kernel inside may still be
        starting). `env` is bwrap's whole environment: nothing of the server's is inherited,
        nor any descriptor but `pass_fds`. `info_fd` is the read end of the pipe given as
        `--info-fd`; the descriptors in `close_after_spawn` (that write end among them) are
        closed once the child has them; `ready_marker` is a path that exists in the finished
        sandbox only."""
        log_read, log_write = os.pipe2(os.O_CLOEXEC)
        try:
            # Popen runs on the event loop's thread on purpose: --die-with-parent ties the
            # sandbox to the thread that forked it, and a worker thread may exit any time.
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_write,
                stderr=log_write,
                env=dict(env),
                close_fds=True,
                pass_fds=tuple(pass_fds),
                start_new_session=True,
                preexec_fn=preexec_for(plan),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(log_read)
            raise SandboxUnavailable(f"could not start bubblewrap: {exc}") from exc
        finally:
            os.close(log_write)
            for fd in close_after_spawn:
                os.close(fd)
        log = _LogSink(log_read, log_path, log_cap)
        try:
            info = await _read_until_eof(info_fd, timeout)
            child_pid = int(json.loads(info)["child-pid"])
            mnt_ns = int(json.loads(info)["mnt-namespace"])
            root_fd = await _open_root(child_pid, mnt_ns, ready_marker, timeout)
        except (TimeoutError, OSError, ValueError, KeyError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
            await asyncio.sleep(0)  # let the log reader take the last words
            detail = log.tail.decode("utf-8", "replace").strip() or repr(exc)
            log.close()
            raise SandboxUnavailable(f"bubblewrap failed: {detail}") from exc
        return cls(popen, child_pid, root_fd, log)

    @property
    def pid(self) -> int:
        """Host pid of bwrap."""
        return self._popen.pid

    @property
    def root_fd(self) -> int:
        return self._root_fd

    @property
    def root_path(self) -> str:
        """The sandbox's / as a host path (valid while this object is open)."""
        return f"/proc/self/fd/{self._root_fd}"

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    @property
    def log_tail(self) -> str:
        return self._log.tail.decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL bwrap's process group; --die-with-parent and the pid namespace take every
        process of the sandbox with it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` for bwrap to exit; whether it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._popen.poll() is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def close(self) -> None:
        """Release the host-side handles (after the process is gone)."""
        self._log.close()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1
