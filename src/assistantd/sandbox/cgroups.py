"""Per-session cgroups for the pids, memory and cpu limits, where this process may create them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.limits import SandboxLimits

# cgroup v1 (one hierarchy per controller) and a delegated cgroup v2 subtree are both handled.
# Session cgroups are nested under the server's own cgroup, so any limit on the server still
# applies to its sandboxes.

log = logging.getLogger(__name__)

CONTROLLERS = ("pids", "memory", "cpu")
_CPU_PERIOD_US = 100_000
TAG_PREFIX = "assistantd-sandbox-"


def tree_tag() -> str:
    """The name of this server process's folder under its own cgroup."""
    return f"{TAG_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def _remove_stale(parent: Path) -> None:
    """Delete the (empty) folders left by servers that died without cleaning up: their
    sandboxes died with them (--die-with-parent), so only the folders remain."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            pid = entry.name.removeprefix(TAG_PREFIX).split("-", 1)[0]
            if not entry.name.startswith(TAG_PREFIX) or not pid.isdigit():
                continue
            try:
                os.kill(int(pid), 0)
                continue  # that server is still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            for child in entry.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                entry.rmdir()


@dataclass(frozen=True, slots=True)
class _Mount:
    point: Path
    root: str  # the hierarchy path mounted at `point`
    version: int
    controllers: frozenset[str]


def _parse_mounts(mountinfo: str) -> list[_Mount]:
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        fstype, options = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
        if fstype not in ("cgroup", "cgroup2"):
            continue
        version = 2 if fstype == "cgroup2" else 1
        names = frozenset(options.split(",")) & set(CONTROLLERS) if version == 1 else frozenset()
        mounts.append(_Mount(Path(fields[4]), fields[3], version, names))
    return mounts


def _parse_membership(cgroup: str) -> dict[str, str]:
    """Controller name (or "" for v2) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    for line in cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name in parts[1].split(",") if parts[1] else [""]:
            paths[name] = parts[2]
    return paths


def _inside(mount: _Mount, path: str) -> Path | None:
    root = mount.root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None  # our cgroup is not visible through this mount
    return mount.point / path[len(root) :].lstrip("/")


def _write(path: Path, value: str) -> None:
    path.write_text(value, encoding="ascii")


class SessionCgroup:
    """The cgroup folders of one session (one per controller on v1, one on v2)."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self._dirs = dirs
        self._version = version

    @property
    def procs_files(self) -> list[str]:
        """The files a new process writes its pid to, to join the session's cgroups."""
        return sorted({str(d / "cgroup.procs") for d in self._dirs.values()})

    def apply(self, limits: SandboxLimits) -> None:
        """Write the limits; raises OSError when one cannot be set."""
        quota = int(limits.cpus * _CPU_PERIOD_US) if limits.cpus is not None else None
        if self._version == 1:
            if "pids" in self._dirs:
                _write(self._dirs["pids"] / "pids.max", str(limits.pids))
            if "memory" in self._dirs:
                memory = self._dirs["memory"]
                _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
                swap = memory / "memory.memsw.limit_in_bytes"
                if swap.exists():  # absent when swap accounting is off
                    _write(swap, str(limits.memory_bytes))
            if "cpu" in self._dirs and quota is not None:
                _write(self._dirs["cpu"] / "cpu.cfs_period_us", str(_CPU_PERIOD_US))
                _write(self._dirs["cpu"] / "cpu.cfs_quota_us", str(quota))
            return
        path = next(iter(self._dirs.values()))
        if "pids" in self._dirs:
            _write(path / "pids.max", str(limits.pids))
        if "memory" in self._dirs:
            _write(path / "memory.max", str(limits.memory_bytes))
            if (path / "memory.swap.max").exists():
                _write(path / "memory.swap.max", "0")
        if "cpu" in self._dirs and quota is not None:
            _write(path / "cpu.max", f"{quota} {_CPU_PERIOD_US}")

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer ended a process of the session."""
        memory = self._dirs.get("memory")
        if memory is None:
            return False
        name = "memory.oom_control" if self._version == 1 else "memory.events"
        try:
            text = (memory / name).read_text(encoding="ascii")
        except OSError:
            return False
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self._dirs.values():
            with contextlib.suppress(OSError):
                text = (path / "cgroup.procs").read_text(encoding="ascii")
                found.update(int(pid) for pid in text.split())
        return found

    def kill_all(self) -> None:
        """SIGKILL every process in the session's cgroups."""
        kill_file = next(iter(self._dirs.values())) / "cgroup.kill"
        if self._version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def discard(self) -> None:
        """Delete the folders of a cgroup that never held a process."""
        for path in self._dirs.values():
            with contextlib.suppress(OSError):
                path.rmdir()

    async def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left and delete the folders (a cgroup must be empty to go)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.kill_all()
            busy = False
            for path in self._dirs.values():
                try:
                    path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    busy = True
            if not busy:
                return
            if loop.time() > deadline:
                log.warning("sandbox cgroups %s still busy; left behind", self.procs_files)
                return
            await asyncio.sleep(0.05)


class CgroupTree:
    """The folders, one per usable controller, under which session cgroups are created."""

    def __init__(self, bases: dict[str, Path], version: int) -> None:
        self._bases = bases
        self.version = version

    @property
    def controllers(self) -> frozenset[str]:
        return frozenset(self._bases)

    @classmethod
    def discover(cls, tag: str, limits: SandboxLimits) -> CgroupTree | None:
        """Create `<own cgroup>/<tag>` for each controller we may use and check that a child
        with `limits` can be made there; None when no controller is usable."""
        try:
            mounts = _parse_mounts(Path("/proc/self/mountinfo").read_text(encoding="utf-8"))
            membership = _parse_membership(Path("/proc/self/cgroup").read_text(encoding="utf-8"))
        except OSError:
            return None
        tree = cls._discover_v1(tag, mounts, membership) or cls._discover_v2(
            tag, mounts, membership
        )
        if tree is None:
            return None
        try:
            trial = tree.create(f"probe-{os.getpid()}")
            trial.apply(limits)
        except OSError as exc:
            log.info("sandbox cgroups not usable: %s", exc)
            tree.remove()
            return None
        trial.discard()
        return tree

    @classmethod
    def _discover_v1(
        cls, tag: str, mounts: list[_Mount], membership: dict[str, str]
    ) -> CgroupTree | None:
        bases: dict[str, Path] = {}
        for name in CONTROLLERS:
            for mount in mounts:
                if mount.version != 1 or name not in mount.controllers or name not in membership:
                    continue
                own = _inside(mount, membership[name])
                if own is None:
                    continue
                _remove_stale(own)
                try:
                    (own / tag).mkdir(exist_ok=True)
                except OSError:
                    continue
                bases[name] = own / tag
                break
        return cls(bases, 1) if "pids" in bases else None

    @classmethod
    def _discover_v2(
        cls, tag: str, mounts: list[_Mount], membership: dict[str, str]
    ) -> CgroupTree | None:
        mount = next((m for m in mounts if m.version == 2), None)
        if mount is None or "" not in membership:
            return None
        own = _inside(mount, membership[""])
        if own is None:
            return None
        _remove_stale(own)
        try:
            available = set((own / "cgroup.controllers").read_text(encoding="ascii").split())
            wanted = [name for name in CONTROLLERS if name in available]
            enabled = set((own / "cgroup.subtree_control").read_text(encoding="ascii").split())
            for name in wanted:
                if name not in enabled:
                    # Refused when our own cgroup holds processes (cgroup v2's no-internal-
                    # process rule); only a delegated, empty parent works.
                    _write(own / "cgroup.subtree_control", f"+{name}")
            base = own / tag
            base.mkdir(exist_ok=True)
            _write(base / "cgroup.subtree_control", " ".join(f"+{n}" for n in wanted))
        except OSError:
            return None
        if "pids" not in wanted:
            return None
        return cls(dict.fromkeys(wanted, base), 2)

    def create(self, name: str) -> SessionCgroup:
        dirs: dict[str, Path] = {}
        for controller, base in self._bases.items():
            path = base / name
            path.mkdir(exist_ok=True)
            dirs[controller] = path
        return SessionCgroup(dirs, self.version)

    def remove(self) -> None:
        """Delete the tree's own folders (best effort: sessions must be gone)."""
        for base in set(self._bases.values()):
            with contextlib.suppress(OSError):
                base.rmdir()
