"""The seccomp filter bubblewrap installs before the kernel starts (compiled BPF, via pyseccomp)."""

from __future__ import annotations

import errno
import socket
import tempfile
from typing import Any

from assistantd.sandbox.errors import SandboxUnavailable

# Default allow, with a deny list: the sandbox is already confined by namespaces, so the filter
# only removes the kernel interfaces that have been used to break out of such a confinement or
# that give new powers to a process without capabilities.

DENIED_SYSCALLS = (
    # Debugging and reading other processes.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "perf_event_open",
    # Mounts and namespaces.
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    # Kernel keyrings, BPF, modules, kexec, reboot, swap, accounting.
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    # Often-exploited kernel surfaces.
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
)

# clone() flags that create namespaces: unshare() is denied, so clone() must not do the same.
_CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
ALLOWED_SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_NETLINK)  # libzmq needs netlink at start
_AF_MAX = 64  # above every address family Linux defines


def _load_pyseccomp() -> Any:
    try:
        # Imported here: it loads libseccomp.so at import, which only this path needs.
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as exc:
        raise SandboxUnavailable(f"pyseccomp/libseccomp is not usable: {exc}") from exc
    return pyseccomp


def build_filter_bpf() -> bytes:
    """The compiled filter, in the form `bwrap --seccomp FD` reads."""
    sc = _load_pyseccomp()
    deny = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED_SYSCALLS:
        flt.add_rule(deny, name)
    for flag in _CLONE_NAMESPACE_FLAGS:
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, out of the filter's reach: ENOSYS makes the C library
    # fall back to clone(), which is checked above.
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # One comparison per argument and rule: deny every other family one by one, then the rest.
    no_family = sc.ERRNO(errno.EAFNOSUPPORT)
    for family in range(_AF_MAX):
        if family not in ALLOWED_SOCKET_FAMILIES:
            flt.add_rule(no_family, "socket", sc.Arg(0, sc.EQ, family))
    flt.add_rule(no_family, "socket", sc.Arg(0, sc.GE, _AF_MAX))
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        return out.read()
