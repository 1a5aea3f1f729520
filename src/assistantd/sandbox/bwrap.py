"""The bubblewrap command line of a session: what the kernel sees and how it is confined."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.layout import (
    CONNECTION_FILE,
    SANDBOX_UID,
    SANDBOX_USER,
    SOCKET_DIR,
    STARTUP_FILE,
    USR_ALIASES,
    PythonLayout,
)
from assistantd.sandbox.limits import SandboxLimits
from assistantd.sandbox.results import DATA_DIR

SOCKET_DIR_BYTES = 1 << 20
# Host files the C library, fontconfig (matplotlib runs fc-list) and Python read if present;
# nothing else of /etc is visible.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts")


@dataclass(frozen=True, slots=True)
class SandboxFds:
    """Descriptors handed to bwrap: the seccomp program, where to report the child's pid, and
    the contents of the read-only files it creates."""

    seccomp: int
    info: int
    connection: int
    startup: int
    passwd: int
    group: int

    def all(self) -> tuple[int, ...]:
        return (self.seccomp, self.info, self.connection, self.startup, self.passwd, self.group)


def identity_files() -> tuple[bytes, bytes]:
    """/etc/passwd and /etc/group for the sandbox user (getpass and friends ask for them)."""
    passwd = f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:{SANDBOX_USER}:/tmp:/bin/sh\n"
    group = f"{SANDBOX_USER}:x:{SANDBOX_UID}:\n"
    return passwd.encode("ascii"), group.encode("ascii")


def kernel_command(layout: PythonLayout) -> list[str]:
    """The ipykernel command run inside the sandbox."""
    return [
        str(layout.executable),
        "-I",  # no PYTHON* variables, no user site, no current folder on sys.path
        "-m",
        "ipykernel_launcher",
        "-f",
        CONNECTION_FILE,
        "--HistoryManager.enabled=False",  # no sqlite file, no history thread
        "--InteractiveShell.colors=nocolor",
        f"--IPKernelApp.exec_files={STARTUP_FILE}",
        "--Application.log_level=WARN",
    ]


def _root_filesystem(layout: PythonLayout) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for alias in USR_ALIASES:
        if os.path.islink(alias):
            args += ["--symlink", os.readlink(alias), alias]
        elif os.path.isdir(alias):
            args += ["--ro-bind", alias, alias]
    for host, inside in layout.ro_binds:
        args += ["--ro-bind", str(host), str(inside)]
    for etc_file in _ETC_FILES:
        if os.path.exists(etc_file):
            args += ["--ro-bind", etc_file, etc_file]
    return args


def sandbox_environment(layout: PythonLayout) -> dict[str, str]:
    """The whole environment of bwrap and of everything inside the sandbox. bwrap is given it
    too, not only --setenv: its init stays pid 1 in the session, where /proc/1/environ shows
    the environment bwrap was started with whatever --clearenv did to its copy."""
    return {
        "HOME": "/tmp",
        "USER": SANDBOX_USER,
        "PATH": f"{Path(layout.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "IPYTHONDIR": "/tmp/.ipython",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def bwrap_command(
    bwrap: str,
    layout: PythonLayout,
    limits: SandboxLimits,
    fds: SandboxFds,
    command: list[str],
) -> list[str]:
    """The whole `bwrap ... -- command` argv. It is visible inside the session (/proc/1/cmdline),
    so it holds paths and sizes only: every secret (the connection key) goes through a memfd."""
    args = [
        bwrap,
        "--unshare-all",
        # Required, not only tried as --unshare-all does: uid 1000 exists in its own user
        # namespace only, and a machine without one must fail the probe, not run differently.
        "--unshare-user",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
        *_root_filesystem(layout),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # /dev is a tmpfs without a size: make it read-only, with a capped /dev/shm in it
        # (multiprocessing needs POSIX shared memory).
        "--size",
        str(limits.shm_bytes),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.data_dir_bytes),
        "--tmpfs",
        DATA_DIR,
        "--size",
        str(SOCKET_DIR_BYTES),
        "--tmpfs",
        SOCKET_DIR,
        "--ro-bind-data",
        str(fds.connection),
        CONNECTION_FILE,
        "--ro-bind-data",
        str(fds.startup),
        STARTUP_FILE,
        "--ro-bind-data",
        str(fds.passwd),
        "/etc/passwd",
        "--ro-bind-data",
        str(fds.group),
        "/etc/group",
        "--remount-ro",
        "/",
        "--chdir",
        DATA_DIR,
        "--info-fd",
        str(fds.info),
        "--seccomp",
        str(fds.seccomp),
        "--clearenv",
    ]
    for name, value in sandbox_environment(layout).items():
        args += ["--setenv", name, value]
    return [*args, "--", *command]
