"""Where things are: the sandbox Python's folders on the host, and fixed paths inside a session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from assistantd.sandbox.errors import SandboxUnavailable

# Inside the sandbox.
SOCKET_DIR = "/run/kernel"  # a small tmpfs where the kernel binds its ipc sockets
CONFIG_DIR = "/opt/assistantd"  # read-only files written by the host: connection file, startup
CONNECTION_FILE = f"{CONFIG_DIR}/kernel.json"
STARTUP_FILE = f"{CONFIG_DIR}/startup.py"
SANDBOX_UID = 1000
SANDBOX_USER = "sandbox"

# Folders the sandbox mounts its own file systems on: host folders there would be hidden.
_RESERVED = ("/tmp", "/mnt", "/run", "/dev", "/proc", "/etc", "/opt/assistantd")

# Top-level entries that merged-/usr systems make symlinks into /usr.
USR_ALIASES = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


# Where a host folder goes when its own path is one the sandbox mounts over (a venv in /tmp).
RELOCATED_ROOT = "/opt/python"


@dataclass(frozen=True, slots=True)
class PythonLayout:
    """The sandbox interpreter (its path inside) and the host folders it needs, bound read-only:
    at the same path, or under /opt/python when the host path is one the sandbox mounts over."""

    executable: Path
    ro_binds: tuple[tuple[Path, Path], ...]  # (host folder, path inside)

    @property
    def ro_dirs(self) -> tuple[Path, ...]:
        return tuple(host for host, _ in self.ro_binds)


def _venv_home(venv: Path) -> Path | None:
    try:
        lines = (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home":
            return Path(value.strip())
    return None


def _prefix_of(executable_dir: Path) -> Path:
    # An installation keeps its interpreter in <prefix>/bin and its library beside it.
    return executable_dir.parent if executable_dir.name == "bin" else executable_dir


def _outermost(paths: set[Path]) -> tuple[Path, ...]:
    usr = Path("/usr")
    kept = sorted(p for p in paths if p != usr and usr not in p.parents)
    result: list[Path] = []
    for path in kept:
        if not any(parent in path.parents for parent in result):
            result.append(path)
    return tuple(result)


def discover_python(python: Path) -> PythonLayout:
    """Find the folders a (virtual environment's) interpreter lives in, without running it."""
    executable = Path(os.path.abspath(python))
    if not os.access(executable, os.X_OK) or not executable.is_file():
        raise SandboxUnavailable(
            f"the sandbox Python {executable} does not exist "
            "(run `assistantd sandbox install` to create it)"
        )
    dirs: set[Path] = {_prefix_of(Path(os.path.realpath(executable)).parent)}
    venv = executable.parent.parent
    home = _venv_home(venv)
    if home is not None:
        dirs.add(venv)
        dirs.add(_prefix_of(Path(os.path.realpath(home))))
    binds: list[tuple[Path, Path]] = []
    inside_executable = executable
    for number, path in enumerate(_outermost(dirs)):
        if not _reserved(path):
            binds.append((path, path))
            continue
        if home is None or path != venv:
            # The base installation must stay where the venv's interpreter link points.
            raise SandboxUnavailable(
                f"the sandbox Python cannot live under {_reserved(path)} ({path}): the sandbox "
                "mounts its own file system there"
            )
        # A venv finds itself from its interpreter's path (pyvenv.cfg beside bin/), so it
        # works from another mount point.
        inside = Path(f"{RELOCATED_ROOT}-{number}")
        binds.append((path, inside))
        if path in executable.parents:
            inside_executable = inside / executable.relative_to(path)
    return PythonLayout(executable=inside_executable, ro_binds=tuple(binds))


def _reserved(path: Path) -> str | None:
    for reserved in _RESERVED:
        if path == Path(reserved) or Path(reserved) in path.parents:
            return reserved
    return None
