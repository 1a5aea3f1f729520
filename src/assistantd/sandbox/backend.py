"""The bubblewrap + ipykernel backend: checks the machine once, then starts sessions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.bwrap import SandboxFds, bwrap_command, identity_files, kernel_command
from assistantd.sandbox.cgroups import CgroupTree, SessionCgroup, tree_tag
from assistantd.sandbox.channels import KernelChannels
from assistantd.sandbox.connection import Connection
from assistantd.sandbox.errors import SandboxUnavailable
from assistantd.sandbox.files import check_input_name
from assistantd.sandbox.kernel_startup import startup_code
from assistantd.sandbox.layout import (
    CONNECTION_FILE,
    SOCKET_DIR,
    PythonLayout,
    discover_python,
)
from assistantd.sandbox.limits import MIB, SandboxLimits
from assistantd.sandbox.process import SandboxProcess, SpawnPlan
from assistantd.sandbox.protocol import WireCodec
from assistantd.sandbox.results import InputFile, ProbeResult
from assistantd.sandbox.seccomp import build_filter_bpf
from assistantd.sandbox.session import KernelSession

_KERNEL_LOG_BYTES = MIB
_PROBE_COMMAND = ("-I", "-c", "import ipykernel, zmq")


@dataclass(frozen=True, slots=True)
class _Machine:
    """What the probe found: everything a session start needs, computed once."""

    bwrap: str
    layout: PythonLayout
    seccomp_bpf: bytes
    cgroups: CgroupTree | None
    user: int | None
    group: int | None
    rlimits: tuple[tuple[int, int], ...]
    description: str


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class BubblewrapBackend:
    """Sessions are ipykernel processes inside bubblewrap with a seccomp filter, cgroup (or
    uid/rlimit) limits and size-capped tmpfs folders. Create one per server and `aclose()` it."""

    def __init__(
        self,
        python: Path,
        *,
        limits: SandboxLimits | None = None,
        bwrap: str | None = None,
        use_cgroups: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._use_cgroups = use_cgroups
        self._python = python
        self._bwrap = bwrap
        self._tag = tree_tag()
        self._machine: _Machine | None = None
        self._failure: ProbeResult | None = None
        self._probe_lock = asyncio.Lock()

    # Probe.

    async def probe(self) -> ProbeResult:
        """Check (again) that sessions can start: bubblewrap with every namespace, the seccomp
        filter, the limits and the sandbox Python with ipykernel, by running it for real."""
        async with self._probe_lock:
            self._machine, self._failure = None, None
            try:
                machine = self._inspect()
            except SandboxUnavailable as exc:
                self._failure = ProbeResult(available=False, reason=str(exc))
                return self._failure
            try:
                await self._trial_run(machine)
            except SandboxUnavailable as exc:
                reason = str(exc).strip()
                if machine.user is not None:
                    reason += (
                        f" (no cgroup pids controller is writable, so the sandbox runs as uid "
                        f"{machine.user}: the sandbox Python and its folders must be readable "
                        "by that uid, and unprivileged user namespaces allowed)"
                    )
                self._failure = ProbeResult(available=False, reason=reason)
                return self._failure
            self._machine = machine
            return ProbeResult(available=True, reason=machine.description)

    def _inspect(self) -> _Machine:
        bwrap = self._bwrap or shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed; code_interpreter needs it (run `make sandbox`"
                " as root, or `apt-get install bubblewrap`)"
            )
        if not os.access(bwrap, os.X_OK):
            raise SandboxUnavailable(f"bubblewrap ({bwrap}) is not an executable file")
        layout = discover_python(self._python)
        seccomp_bpf = build_filter_bpf()
        limits = self.limits
        cgroups = CgroupTree.discover(self._tag, limits) if self._use_cgroups else None
        rlimits = [
            (resource.RLIMIT_AS, limits.address_space_bytes),
            (resource.RLIMIT_CORE, 0),
        ]
        user = group = None
        if cgroups is not None:
            pids = f"cgroup v{cgroups.version} pids.max"
        elif os.geteuid() == 0:
            # RLIMIT_NPROC does not bind for root: run as a dedicated unprivileged user.
            user, group = limits.fallback_uid, limits.fallback_gid
            rlimits.append((resource.RLIMIT_NPROC, limits.pids))
            pids = f"RLIMIT_NPROC of uid {user}"
        else:
            rlimits.append((resource.RLIMIT_NPROC, limits.pids))
            pids = f"RLIMIT_NPROC of uid {os.geteuid()}"
        memory = (
            f"cgroup v{cgroups.version} memory limit + RLIMIT_AS"
            if cgroups is not None and "memory" in cgroups.controllers
            else "RLIMIT_AS only"
        )
        description = (
            f"bubblewrap sandbox ready (python {layout.executable}; processes: {pids}; "
            f"memory: {memory}; /mnt/data: tmpfs of {limits.data_dir_bytes // MIB} MiB)"
        )
        return _Machine(
            bwrap, layout, seccomp_bpf, cgroups, user, group, tuple(rlimits), description
        )

    async def _trial_run(self, machine: _Machine) -> None:
        command = [str(machine.layout.executable), *_PROBE_COMMAND]
        with _scratch_dir() as scratch:
            process, cgroup = await self._launch(machine, scratch, command, Connection.new("x"))
            try:
                if not await process.wait(self.limits.start_timeout_seconds):
                    raise SandboxUnavailable("the sandbox probe did not finish in time")
                if process.returncode != 0:
                    raise SandboxUnavailable(
                        f"the sandbox Python failed to import ipykernel: {process.log_tail}"
                    )
            finally:
                await _stop(process, cgroup)

    async def _ready(self) -> _Machine:
        if self._machine is None and self._failure is None:
            await self.probe()
        if self._machine is None:
            reason = self._failure.reason if self._failure else "sandbox not probed"
            raise SandboxUnavailable(reason)
        return self._machine

    # Sessions.

    async def start_session(
        self, session_dir: Path, input_files: Sequence[InputFile] = ()
    ) -> KernelSession:
        """Start a kernel whose /mnt/data holds copies of `input_files`. `session_dir` is a
        host folder for the session's own records (the kernel's log); the sandbox never sees it.
        Raises SandboxUnavailable when the kernel cannot start."""
        machine = await self._ready()
        for file in input_files:
            check_input_name(file.name)
        session_dir.mkdir(parents=True, exist_ok=True)
        connection = Connection.new(f"{SOCKET_DIR}/k")
        command = kernel_command(machine.layout)
        process, cgroup = await self._launch(machine, session_dir, command, connection)
        try:
            codec = WireCodec(connection.key)
            relay_plan = SpawnPlan(
                cgroup_procs=cgroup.procs_files if cgroup is not None else (),
                rlimits=(
                    (resource.RLIMIT_AS, self.limits.address_space_bytes),
                    (resource.RLIMIT_CORE, 0),
                ),
            )
            channels = KernelChannels(
                codec,
                max_message_bytes=self.limits.max_message_bytes,
                plan=relay_plan,
                log_path=session_dir / "relay.log",
            )
            session = KernelSession(
                session_id=session_dir.name,
                session_dir=session_dir,
                process=process,
                connection=connection,
                codec=codec,
                channels=channels,
                cgroup=cgroup,
                limits=self.limits,
            )
        except BaseException as exc:
            await _stop(process, cgroup)
            if isinstance(exc, OSError):
                raise SandboxUnavailable(f"could not open the sandbox's files: {exc}") from exc
            raise
        try:
            await session.start(input_files, self.limits.start_timeout_seconds)
        except BaseException:
            await session.close()
            raise
        return session

    async def _launch(
        self, machine: _Machine, log_dir: Path, command: list[str], connection: Connection
    ) -> tuple[SandboxProcess, SessionCgroup | None]:
        passwd, group = identity_files()
        contents = {
            "seccomp": machine.seccomp_bpf,
            "connection": connection.file_bytes(),
            "startup": startup_code(self.limits.output_chars),
            "passwd": passwd,
            "group": group,
        }
        cgroup: SessionCgroup | None = None
        fds: list[int] = []
        try:
            if machine.cgroups is not None:
                cgroup = machine.cgroups.create(f"{log_dir.name}-{secrets.token_hex(3)}")
                cgroup.apply(self.limits)
            info_read, info_write = os.pipe2(os.O_CLOEXEC)
            fds += [info_read, info_write]
            memfds = {name: _memfd(name, data) for name, data in contents.items()}
            fds += memfds.values()
            handed = SandboxFds(info=info_write, **memfds)
            plan = SpawnPlan(
                cgroup_procs=cgroup.procs_files if cgroup is not None else (),
                rlimits=machine.rlimits,
                user=machine.user,
                group=machine.group,
            )
            fds = [info_read]  # spawn closes the others once the child has them
            process = await SandboxProcess.spawn(
                bwrap_command(machine.bwrap, machine.layout, self.limits, handed, command),
                pass_fds=handed.all(),
                info_fd=info_read,
                close_after_spawn=handed.all(),
                plan=plan,
                log_path=log_dir / "kernel.log",
                log_cap=_KERNEL_LOG_BYTES,
                ready_marker=CONNECTION_FILE,
                timeout=self.limits.start_timeout_seconds,
            )
        except BaseException as exc:
            if cgroup is not None:
                await cgroup.remove()
            if isinstance(exc, OSError):
                raise SandboxUnavailable(f"could not prepare the sandbox: {exc}") from exc
            raise
        finally:
            for fd in fds:
                os.close(fd)
        return process, cgroup

    async def aclose(self) -> None:
        """Release the backend (sessions must be closed first)."""
        if self._machine is not None and self._machine.cgroups is not None:
            self._machine.cgroups.remove()


async def _stop(process: SandboxProcess, cgroup: SessionCgroup | None) -> None:
    process.kill()
    await process.wait(5.0)
    process.close()
    if cgroup is not None:
        await cgroup.remove()


@contextlib.contextmanager
def _scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="assistantd-probe-") as path:
        yield Path(path)
