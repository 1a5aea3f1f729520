"""One live kernel in its sandbox: run code, add input files, read output files, close."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

from assistantd.sandbox.cgroups import SessionCgroup
from assistantd.sandbox.channels import KernelChannels
from assistantd.sandbox.connection import CHANNELS, Connection
from assistantd.sandbox.errors import SandboxUnavailable, SessionDied
from assistantd.sandbox.execution import PendingCall
from assistantd.sandbox.files import DataFolder, Snapshot
from assistantd.sandbox.layout import SOCKET_DIR
from assistantd.sandbox.limits import MIB, SandboxLimits
from assistantd.sandbox.output import OutputCollector
from assistantd.sandbox.process import SandboxProcess
from assistantd.sandbox.protocol import Envelope, WireCodec
from assistantd.sandbox.results import ExecutionResult, InputFile, OutputFile

log = logging.getLogger(__name__)

# How often a waiting call checks that the kernel is still alive.
_TICK_SECONDS = 0.1
# The idle status normally follows the reply within a millisecond; it can be lost if the kernel
# dropped iopub messages, so a call does not wait for it for ever.
_IDLE_AFTER_REPLY_SECONDS = 1.0
_HANDSHAKE_RETRY_SECONDS = 0.5

OutputCallback = Callable[[str], None]


class KernelSession:
    """A kernel in its own bubblewrap sandbox, with state kept between calls. Calls run one at a
    time; errors in user code come back as results, a lost kernel as SessionDied."""

    def __init__(
        self,
        *,
        session_id: str,
        session_dir: Path,
        process: SandboxProcess,
        connection: Connection,
        codec: WireCodec,
        channels: KernelChannels,
        cgroup: SessionCgroup | None,
        limits: SandboxLimits,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_dir = session_dir
        self._process = process
        self._connection = connection
        self._codec = codec
        self._channels = channels
        self._cgroup = cgroup
        self._limits = limits
        self._folder = DataFolder(
            process.root_path,
            max_files=limits.max_reported_files,
            max_depth=limits.max_depth,
            owner=owner,
        )
        self._route_to: Callable[[str, Envelope], None] | None = None
        self._lock = asyncio.Lock()
        self._baseline: Snapshot = {}
        self._inputs: set[str] = set()
        self._closed = False
        self._death: str | None = None
        self.busy = False

    # Life cycle.

    @property
    def alive(self) -> bool:
        return (
            not self._closed
            and self._death is None
            and self._process.running
            and self._channels.running
        )

    async def start(self, input_files: Sequence[InputFile], timeout: float) -> None:
        """Start the relay, copy the inputs in, connect to the kernel and wait until it
        answers (the kernel imports meanwhile)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sockets = {
            channel: f"{SOCKET_DIR}/{self._connection.socket_name(channel)}"
            for channel in ("shell", "control", "iopub")
        }
        await self._channels.start(self._process.root_fd, sockets, self._route)
        await self._add(input_files, replace=True)
        await self._wait_for_sockets(deadline)
        self._channels.connect()
        await self._handshake(deadline)

    async def _wait_for_sockets(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        paths = [
            f"{self._process.root_path}{SOCKET_DIR}/{self._connection.socket_name(channel)}"
            for channel in CHANNELS
        ]
        while True:
            if not self._process.running or not self._channels.running:
                raise SandboxUnavailable(f"the kernel exited at start: {self._tail()}")
            if all(_is_socket(path) for path in paths):
                return
            if loop.time() > deadline:
                raise SandboxUnavailable(f"the kernel did not start in time: {self._tail()}")
            await asyncio.sleep(0.01)

    async def _handshake(self, deadline: float) -> None:
        # A kernel_info reply proves the shell channel works; any iopub message proves our
        # subscription is in place (messages published before it are lost for good).
        replied = asyncio.Event()
        heard = asyncio.Event()
        expected: set[str] = set()

        def on_message(channel: str, envelope: Envelope) -> None:
            if channel == "iopub":
                heard.set()
            elif channel == "shell" and envelope.parent_id in expected:
                replied.set()

        self._route_to = on_message
        try:
            msg_id, frames = self._codec.encode("kernel_info_request", {})
            expected.add(msg_id)
            await self._channels.send("shell", frames)
            # Requests wait in the socket until the kernel's loop runs: ask once, then wait.
            while not replied.is_set():
                await self._wait_starting(replied, deadline)
            while not heard.is_set():
                msg_id, frames = self._codec.encode("kernel_info_request", {})
                await self._channels.send("shell", frames)  # its status messages go to iopub
                await self._wait_starting(heard, deadline)
        finally:
            self._route_to = None
        self._baseline = self._folder.snapshot()

    async def _wait_starting(self, event: asyncio.Event, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        if not self._process.running or not self._channels.running:
            raise SandboxUnavailable(f"the kernel exited at start: {self._tail()}")
        if loop.time() > deadline:
            raise SandboxUnavailable(f"the kernel did not answer in time: {self._tail()}")
        wait = min(_HANDSHAKE_RETRY_SECONDS, max(0.0, deadline - loop.time()))
        try:
            async with asyncio.timeout(wait):
                await event.wait()
        except TimeoutError:
            pass

    def _tail(self) -> str:
        return self._process.log_tail.strip()[-2000:] or "(no output)"

    async def close(self) -> None:
        """Kill the kernel and release everything; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._channels.close()
        self._process.kill()
        if not await self._process.wait(5.0):
            log.warning("sandbox session %s: bwrap did not exit after SIGKILL", self.session_id)
        self._folder.close()
        self._process.close()
        if self._cgroup is not None:
            await self._cgroup.remove()

    # Messages.

    def _route(self, channel: str, envelope: Envelope) -> None:
        if self._route_to is not None:
            self._route_to(channel, envelope)

    # Running code.

    async def execute(
        self, code: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> ExecutionResult:
        """Run `code`; stdout/stderr/results are passed to `on_output` as they arrive. Past
        `timeout` seconds the code is interrupted (state kept, `timed_out` set); a kernel that
        ignores the interrupt is killed, and SessionDied raised."""
        async with self._lock:
            self._check_alive()
            self.busy = True
            try:
                return await self._execute(code, timeout, on_output)
            finally:
                self.busy = False

    def _check_alive(self) -> None:
        if self._closed:
            raise SessionDied("the session was closed")
        if self._death is not None:
            raise SessionDied(self._death)
        if not self._process.running or not self._channels.running:
            self._death = self._why_dead()
            raise SessionDied(self._death)

    def _why_dead(self) -> str:
        self._process.kill()  # when only the relay is gone, the kernel is of no more use
        if self._cgroup is not None and self._cgroup.oom_killed():
            limit = self._limits.memory_bytes // MIB
            return f"the session ran out of memory (limit {limit} MiB); its state was lost"
        failure = self._channels.failure
        if failure is not None and self._process.running:
            return f"the session's connection to its kernel broke ({failure}); its state was lost"
        return "the session's kernel died; its state was lost"

    async def _execute(
        self, code: str, timeout: float, on_output: OutputCallback | None
    ) -> ExecutionResult:
        loop = asyncio.get_running_loop()
        collector = OutputCollector(self._limits.output_chars, self._limits.max_images, on_output)
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            # Never abort the next request because this one failed (e.g. was interrupted).
            "stop_on_error": False,
        }
        msg_id, frames = self._codec.encode("execute_request", content)
        oversize_before = self._channels.oversize_dropped
        call = PendingCall(msg_id, self._codec, collector)
        self._route_to = call.handle
        deadline = loop.time() + max(0.0, timeout)
        interrupted_at: float | None = None
        replied_at: float | None = None
        try:
            await self._channels.send("shell", frames)
            while not call.finished:
                now = loop.time()
                if call.reply is not None:
                    replied_at = replied_at or now
                    if now - replied_at > _IDLE_AFTER_REPLY_SECONDS:
                        break
                if not self._process.running or not self._channels.running:
                    self._death = self._why_dead()
                    raise SessionDied(self._death, logs=collector.logs)
                if now >= deadline and interrupted_at is None:
                    interrupted_at = now
                    _, interrupt = self._codec.encode("interrupt_request", {})
                    await self._channels.send("control", interrupt)
                elif (
                    interrupted_at is not None
                    and now - interrupted_at > self._limits.interrupt_grace_seconds
                ):
                    self._death = (
                        f"the code ran past its {timeout:g} s limit and did not stop when "
                        "interrupted, so the session was killed; its state was lost"
                    )
                    self._process.kill()
                    raise SessionDied(self._death, logs=collector.logs, timed_out=True)
                call.changed.clear()
                wake = (
                    _TICK_SECONDS
                    if interrupted_at is not None
                    else min(_TICK_SECONDS, max(deadline - now, 0.0) + 0.001)
                )
                try:
                    async with asyncio.timeout(wake):
                        await call.changed.wait()
                except TimeoutError:
                    pass
        except asyncio.CancelledError:
            # The caller gave up (its run was cancelled): stop the code as well, so that the
            # next call does not queue behind it; the session and its state stay.
            _, interrupt = self._codec.encode("interrupt_request", {})
            await self._channels.send("control", interrupt)
            raise
        finally:
            self._route_to = None
        if interrupted_at is not None:
            collector.notice(
                f"[execution interrupted: it ran longer than the {timeout:g} s limit; "
                "the session's state is kept]"
            )
        if self._channels.oversize_dropped > oversize_before:
            limit = self._limits.max_message_bytes // MIB
            collector.notice(f"[output dropped: a single message was larger than {limit} MiB]")
        if collector.dropped_images:
            collector.notice(f"[{collector.dropped_images} more images were not kept]")
        return ExecutionResult(
            logs=collector.logs,
            images=collector.images,
            error=call.error,
            timed_out=interrupted_at is not None,
            new_files=self._new_files(),
            logs_truncated=collector.truncated,
        )

    def _new_files(self) -> list[OutputFile]:
        after = self._folder.snapshot()
        changed = self._folder.changes(self._baseline, after)
        self._baseline = after
        return changed

    # Files.

    async def add_files(self, files: Sequence[InputFile], *, replace: bool = False) -> None:
        """Place input files at /mnt/data/<name> between calls. A name added before is left
        alone (the code may have changed its copy) unless `replace`."""
        async with self._lock:
            self._check_alive()
            await self._add(files, replace=replace)

    async def _add(self, files: Sequence[InputFile], *, replace: bool) -> None:
        for file in files:
            if file.name in self._inputs and not replace:
                continue
            stamp = await asyncio.to_thread(self._folder.add, file)
            self._baseline[file.name] = stamp
            self._inputs.add(file.name)

    async def read_output(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The bytes of a regular file under /mnt/data (e.g. an OutputFile's path)."""
        self._check_open()
        return await asyncio.to_thread(self._folder.read, path, max_bytes)

    async def copy_output(self, path: str, dest: Path) -> int:
        """Copy a file under /mnt/data to a host path; the number of bytes copied."""
        self._check_open()
        return await asyncio.to_thread(self._folder.copy_to, path, dest)

    def _check_open(self) -> None:
        if self._closed:
            raise SessionDied("the session was closed")

    @property
    def sandbox_pid(self) -> int:
        """Host pid of the sandbox's first process (its pid namespace's init)."""
        return self._process.child_pid

    @property
    def host_pids(self) -> list[int]:
        """Host pids of the session's top processes: bwrap (parent of everything in the
        sandbox) and the relay, for measurements."""
        relay = self._channels.pid
        return [self._process.pid] + ([relay] if relay is not None else [])


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
