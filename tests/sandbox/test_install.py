"""`assistantd sandbox install` and `assistantd sandbox check`: the documented step that gives a
plain `pip install` of the server its sandbox, where the server will look for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistantd.sandbox.install import SYSTEM_PYTHON, choose_python, requirements_file, venv_of
from assistantd.sandbox.layout import discover_python

from .conftest import SANDBOX_PYTHON


def assistantd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistantd", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
    env.update(extra)
    return env


def test_the_requirements_ship_inside_the_package() -> None:
    names = [
        line.split(">=")[0]
        for line in requirements_file().read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert names == ["ipykernel", "numpy", "pandas", "matplotlib"]


def test_the_system_python_is_preferred_when_new_enough(tmp_path: Path) -> None:
    explicit = tmp_path / "python"
    assert choose_python(explicit) == explicit
    expected = SYSTEM_PYTHON if SYSTEM_PYTHON.exists() else Path(sys.executable)
    if SYSTEM_PYTHON.exists():
        version = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if version != "True":
            expected = Path(sys.executable)
    assert choose_python(None) == expected


def test_the_environment_is_the_configured_pythons_venv(tmp_path: Path) -> None:
    assert venv_of(Path(".venv-sandbox/bin/python")) == Path.cwd() / ".venv-sandbox"
    assert venv_of(tmp_path / "sb" / "bin" / "python") == tmp_path / "sb"


def test_check_says_why_the_sandbox_is_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bin" / "python"
    done = assistantd(
        "sandbox", "check", env=clean_env(ASSISTANTD_SANDBOX_PYTHON=str(missing)), cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"code_interpreter unavailable: the sandbox Python {missing} does not exist "
        "(run `assistantd sandbox install` to create it)"
    )


def test_check_starts_a_session_with_the_installed_sandbox(tmp_path: Path) -> None:
    done = assistantd(
        "sandbox",
        "check",
        env=clean_env(ASSISTANTD_SANDBOX_PYTHON=str(SANDBOX_PYTHON)),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("code_interpreter available: bubblewrap sandbox ready (")
    # The interpreter as the session sees it (a venv under /tmp is mounted at /opt/python-N).
    assert f"python {discover_python(SANDBOX_PYTHON).executable}" in done.stdout


@pytest.mark.slow
def test_install_builds_a_working_sandbox_where_the_server_looks(tmp_path: Path) -> None:
    """From an empty directory, with only the setting naming where the sandbox goes."""
    target = tmp_path / "sandbox-env" / "bin" / "python"
    done = assistantd(
        "sandbox", "install", env=clean_env(ASSISTANTD_SANDBOX_PYTHON=str(target)), cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert target.exists()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"creating the sandbox environment {target.parent.parent} from ")
    assert lines[-1].startswith("code_interpreter available: bubblewrap sandbox ready (")
    # Run again: the environment is updated in place, and still works.
    again = assistantd(
        "sandbox", "install", env=clean_env(ASSISTANTD_SANDBOX_PYTHON=str(target)), cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "creating the sandbox environment" not in again.stdout
