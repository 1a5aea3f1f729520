"""Build what code_interpreter needs outside the server's own environment: bubblewrap (with apt,
when root) and the sandbox's Python environment with the packages its code may import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# The system interpreter, when new enough: readable by every uid, so a root server's sandbox can
# run as an unprivileged one (an interpreter under a private home, like pyenv's in /root, is not).
SYSTEM_PYTHON = Path("/usr/bin/python3")

Say = Callable[[str], None]


class InstallError(Exception):
    """A step of the sandbox installation failed; the message says which and why."""


@dataclass(frozen=True)
class InstallPlan:
    venv: Path  # the sandbox environment's folder (its Python is venv/bin/python)
    base_python: Path  # the interpreter the environment is made from


def requirements_file() -> Path:
    """The sandbox's own requirements, shipped inside the package."""
    return Path(str(resources.files("assistantd.sandbox") / "requirements.txt"))


def choose_python(explicit: Path | None) -> Path:
    """The interpreter to build the environment from: the one asked for, else the system's
    when it is 3.11 or newer with venv, else the one running this command."""
    if explicit is not None:
        return explicit
    if SYSTEM_PYTHON.exists() and _usable(SYSTEM_PYTHON):
        return SYSTEM_PYTHON
    return Path(sys.executable)


def _usable(python: Path) -> bool:
    check = "import sys, venv, ensurepip; assert sys.version_info >= (3, 11)"
    done = subprocess.run([str(python), "-c", check], capture_output=True, check=False)
    return done.returncode == 0


def venv_of(sandbox_python: Path) -> Path:
    """The environment folder of a configured sandbox Python (`<venv>/bin/python`)."""
    return Path(os.path.abspath(sandbox_python)).parent.parent


def ensure_bubblewrap(say: Say) -> str | None:
    """bwrap's path, installing Debian's package first when it is missing and we are root.
    None (with the reason said) when it cannot be had."""
    found = shutil.which("bwrap")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        say("bubblewrap (bwrap) is missing: install it as root (apt-get install bubblewrap)")
        return None
    say("installing bubblewrap with apt-get (about 10 s)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "bubblewrap"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            say("could not install bubblewrap; code_interpreter will be unavailable")
            return None
    return shutil.which("bwrap")


def build_environment(plan: InstallPlan, say: Say) -> Path:
    """Create (or update) the sandbox environment; returns its Python."""
    python = plan.venv / "bin" / "python"
    if not python.exists():
        say(f"creating the sandbox environment {plan.venv} from {plan.base_python}")
        _run([str(plan.base_python), "-m", "venv", str(plan.venv)], "creating the environment")
    say(
        "installing the sandbox's packages (ipykernel, numpy, pandas, matplotlib: about "
        "150 MB, 30-60 s)"
    )
    _run([str(python), "-m", "pip", "install", "--upgrade", "--quiet", "pip"], "upgrading pip")
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--progress-bar",
            "off",
            "-r",
            str(requirements_file()),
        ],
        "installing the sandbox's packages",
    )
    return python


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, check=False)
    except OSError as exc:
        raise InstallError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(f"{what} failed (exit code {done.returncode}): {' '.join(command)}")
