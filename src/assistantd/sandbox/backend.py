"""The bubblewrap + ipykernel backend: checks the machine once, then starts sessions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import resource
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.bwrap import (
    SandboxFds,
    bwrap_command,
    identity_files,
    kernel_command,
    sandbox_environment,
)
from assistantd.sandbox.cgroups import CgroupTree, SessionCgroup, tree_tag
from assistantd.sandbox.channels import KernelChannels
from assistantd.sandbox.connection import Connection
from assistantd.sandbox.errors import SandboxUnavailable
from assistantd.sandbox.files import check_input_name
from assistantd.sandbox.kernel_startup import startup_code
from assistantd.sandbox.layout import (
    CONNECTION_FILE,
    SANDBOX_UID,
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

log = logging.getLogger(__name__)

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
                fallback = _as_server_uid(machine, reason)
                if fallback is None:
                    self._failure = ProbeResult(available=False, reason=_explain(machine, reason))
                    return self._failure
                try:
                    await self._trial_run(fallback)
                except SandboxUnavailable as again:
                    self._failure = ProbeResult(available=False, reason=str(again).strip())
                    return self._failure
                log.warning("code_interpreter sandbox: %s", fallback.description)
                machine = fallback
            self._machine = machine
            return ProbeResult(available=True, reason=machine.description)

    @property
    def host_uid(self) -> int | None:
        """The host uid the sessions' processes run as (None until a probe succeeded)."""
        if self._machine is None:
            return None
        return os.geteuid() if self._machine.user is None else self._machine.user

    def _inspect(self) -> _Machine:
        bwrap = self._bwrap or shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed; code_interpreter needs it (run "
                "`assistantd sandbox install` as root, or `apt-get install bubblewrap`)"
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
        if os.geteuid() == 0:
            # Inside its user namespace the kernel is uid 1000 whatever bwrap runs as, but that
            # uid maps to bwrap's own: the host's root (owner of most host files) unless bwrap
            # is started as a dedicated unprivileged user.
            user, group = limits.fallback_uid, limits.fallback_gid
        if cgroups is not None:
            pids = f"cgroup v{cgroups.version} pids.max"
        else:
            # RLIMIT_NPROC counts the processes of a uid and does not bind for root.
            rlimits.append((resource.RLIMIT_NPROC, limits.pids))
            pids = f"RLIMIT_NPROC of uid {os.geteuid() if user is None else user}"
        memory = (
            f"cgroup v{cgroups.version} memory limit + RLIMIT_AS"
            if cgroups is not None and "memory" in cgroups.controllers
            else "RLIMIT_AS only"
        )
        host_uid = os.geteuid() if user is None else user
        description = (
            f"bubblewrap sandbox ready (python {layout.executable}; processes: {pids}; "
            f"memory: {memory}; /mnt/data: tmpfs of {limits.data_dir_bytes // MIB} MiB; "
            f"kernel: uid {SANDBOX_UID} in its user namespace, host uid {host_uid})"
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
                owner=_owner(machine),
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
                env=sandbox_environment(machine.layout),
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


def _as_server_uid(machine: _Machine, failure: str) -> _Machine | None:
    """The fallback when bwrap could not start as the unprivileged uid (unprivileged user
    namespaces disabled, or the sandbox Python unreadable by that uid): bwrap as the server's
    root, whose user namespace maps the kernel's uid 1000 to the host's uid 0. Only with
    cgroups: without them, the uid is what bounds the number of processes."""
    if machine.user is None or machine.cgroups is None:
        return None
    return dataclasses.replace(
        machine,
        user=None,
        group=None,
        description=machine.description.replace(
            f"host uid {machine.user})",
            f"host uid 0, because as uid {machine.user} it failed: {failure[:300]})",
        ),
    )


def _owner(machine: _Machine) -> tuple[int, int] | None:
    """The host (uid, gid) of the sandbox's user when bwrap does not run as the server."""
    if machine.user is None or machine.group is None:
        return None
    return machine.user, machine.group


def _explain(machine: _Machine, failure: str) -> str:
    if machine.user is None:
        return failure
    return (
        f"{failure} (no cgroup pids controller is writable, so the sandbox runs as uid "
        f"{machine.user}: the sandbox Python and its folders must be readable by that uid, and "
        "unprivileged user namespaces allowed)"
    )


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
