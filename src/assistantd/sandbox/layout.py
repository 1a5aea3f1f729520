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


@dataclass(frozen=True, slots=True)
class PythonLayout:
    """The sandbox interpreter and the host folders it needs, bound read-only at the same path."""

    executable: Path
    ro_dirs: tuple[Path, ...]


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
            f"the sandbox Python {executable} does not exist (run `make sandbox` to create it)"
        )
    dirs: set[Path] = {_prefix_of(Path(os.path.realpath(executable)).parent)}
    venv = executable.parent.parent
    home = _venv_home(venv)
    if home is not None:
        dirs.add(venv)
        dirs.add(_prefix_of(Path(os.path.realpath(home))))
    ro_dirs = _outermost(dirs)
    for path in (executable, *ro_dirs):
        for reserved in _RESERVED:
            if path == Path(reserved) or Path(reserved) in path.parents:
                raise SandboxUnavailable(
                    f"the sandbox Python cannot live under {reserved} ({path}): the sandbox "
                    "mounts its own file system there"
                )
    return PythonLayout(executable=executable, ro_dirs=ro_dirs)
