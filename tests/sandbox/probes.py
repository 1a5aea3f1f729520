"""Code the escape tests run inside a session to look for anything of the host it can see."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

# Runs in the kernel. The needle arrives hex-encoded so the code itself never holds it, and the
# report says where the needle was found, never what surrounds it. Every visible process's
# /proc/<pid>/ files (its net/ folder and fd/ links included) and every file of the sandbox are
# read, except the contents of the host software trees bound read-only (/usr and the sandbox
# Python): the server never writes there, and reading 5 GB would take minutes. Their names are
# still checked.
_SCAN = r"""
import json, os, stat, sys
needle = bytes.fromhex(NEEDLE_HEX)
CAP = 8 << 20
SOFTWARE = tuple(sorted({'/usr', sys.prefix, sys.base_prefix, os.path.dirname(sys.executable)}))
PROC_SKIP = {'kcore', 'kmsg', 'kpagecount', 'kpageflags', 'kpagecgroup', 'sysrq-trigger'}
hits, read, failed = [], 0, 0
environ, cmdline, fds = {}, {}, {}

def under(path, roots):
    return any(path == r or path.startswith(r.rstrip('/') + '/') for r in roots)

def check_name(path):
    if needle in os.fsencode(path):
        hits.append(('name', path))

def check_file(path, what='content'):
    global read, failed
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        failed += 1
        return None
    try:
        chunks, size = [], 0
        while size < CAP:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b''.join(chunks)
    except OSError:
        failed += 1
        return None
    finally:
        os.close(fd)
    read += 1
    if needle in data:
        hits.append((what, path))
    return data

def check_link(path):
    try:
        target = os.readlink(path)
    except OSError:
        return None
    if needle in os.fsencode(target):
        hits.append(('link', path))
    return target

def scan_dir_files(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = f'{folder}/{name}'
        check_name(path)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            check_file(path)
        elif stat.S_ISLNK(st.st_mode):
            check_link(path)

pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
for pid in pids:
    base = f'/proc/{pid}'
    for name in sorted(os.listdir(base)):
        path = f'{base}/{name}'
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            check_link(path)
        elif stat.S_ISREG(st.st_mode):
            data = check_file(path)
            if name == 'environ' and data is not None:
                environ[pid] = sorted(v.split(b'=', 1)[0].decode() for v in data.split(b'\0') if v)
            if name == 'cmdline' and data is not None:
                cmdline[pid] = len(data)
    for sub in ('net', 'fdinfo'):
        scan_dir_files(f'{base}/{sub}')
    try:
        entries = os.listdir(f'{base}/fd')
    except OSError:
        continue
    fds[pid] = {int(fd): check_link(f'{base}/fd/{fd}') for fd in entries}
    for tid in os.listdir(f'{base}/task'):
        for name in ('environ', 'cmdline', 'comm', 'status'):
            check_file(f'{base}/task/{tid}/{name}')
for name in sorted(os.listdir('/proc')):
    path = f'/proc/{name}'
    if name not in PROC_SKIP and not name.isdigit() and os.path.isfile(path):
        check_file(path)
scan_dir_files('/proc/net')
walked = 0
for top, dirs, files in os.walk('/', followlinks=False):
    if top == '/':
        dirs[:] = [d for d in dirs if d not in ('proc', 'sys')]
    for name in dirs + files:
        path = os.path.join(top, name)
        walked += 1
        check_name(path)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            check_link(path)
        elif stat.S_ISREG(st.st_mode) and not under(path, SOFTWARE):
            check_file(path)
print(json.dumps({
    'hits': hits, 'read': read, 'failed': failed, 'walked': walked, 'pids': pids,
    'environ': {str(k): v for k, v in environ.items()},
    'cmdline': {str(k): v for k, v in cmdline.items()},
    'fds': {str(k): v for k, v in fds.items()},
    'uid': os.getuid(), 'gid': os.getgid(), 'env': dict(os.environ),
}))
"""


def scan_code(needle: str) -> str:
    """The code of a scan for `needle` (its output is one JSON line: see ScanReport)."""
    return f"NEEDLE_HEX = {needle.encode().hex()!r}\n{_SCAN}"


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What the scan found: where the needle occurred, and what it could see."""

    hits: list[tuple[str, str]]
    read: int
    walked: int
    pids: list[int]
    environ: dict[int, list[str]]  # pid -> names of the variables of the readable environments
    cmdline: dict[int, int]  # pid -> length of the readable command lines
    fds: dict[int, dict[int, str | None]]  # pid -> descriptor -> link target
    uid: int
    gid: int
    env: dict[str, str]

    @classmethod
    def parse(cls, logs: str) -> ScanReport:
        raw: dict[str, Any] = json.loads(logs.strip().splitlines()[-1])
        return cls(
            hits=[(kind, path) for kind, path in raw["hits"]],
            read=raw["read"],
            walked=raw["walked"],
            pids=raw["pids"],
            environ={int(k): v for k, v in raw["environ"].items()},
            cmdline={int(k): v for k, v in raw["cmdline"].items()},
            fds={int(k): {int(fd): t for fd, t in v.items()} for k, v in raw["fds"].items()},
            uid=raw["uid"],
            gid=raw["gid"],
            env=raw["env"],
        )

    def descriptor_targets(self) -> set[str]:
        return {target for table in self.fds.values() for target in table.values() if target}


def socket_inodes(pid: int | str = "self") -> set[str]:
    """The `socket:[inode]` targets of a host process's descriptors."""
    found = set()
    folder = f"/proc/{pid}/fd"
    for fd in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


# The whole environment a session's processes get (see sandbox/bwrap.py); PATH depends on where
# the sandbox Python lives.
FIXED_ENV_NAMES = sorted(
    [
        "HOME",
        "USER",
        "PATH",
        "LANG",
        "MPLCONFIGDIR",
        "IPYTHONDIR",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MALLOC_ARENA_MAX",
        "PYTHONDONTWRITEBYTECODE",
    ]
)
