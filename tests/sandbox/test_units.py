"""Pure parts of the sandbox package: wire format, output capping, names, layout, limits."""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from assistantd.sandbox.bwrap import SandboxFds, bwrap_command, sandbox_environment
from assistantd.sandbox.connection import Connection
from assistantd.sandbox.errors import InvalidInputFile
from assistantd.sandbox.files import check_input_name
from assistantd.sandbox.fsids import creating_as
from assistantd.sandbox.layout import discover_python
from assistantd.sandbox.limits import SandboxLimits
from assistantd.sandbox.output import PNG_SIGNATURE, OutputCollector, strip_ansi
from assistantd.sandbox.protocol import WireCodec
from assistantd.sandbox.seccomp import build_filter_bpf

from .conftest import SANDBOX_PYTHON
from .probes import FIXED_ENV_NAMES


def test_messages_round_trip_and_forgeries_are_rejected() -> None:
    codec = WireCodec(b"secret")
    msg_id, frames = codec.encode("execute_request", {"code": "1"})
    envelope = codec.envelope([b"routing-id", *frames])
    assert envelope is not None
    assert envelope.msg_type == "execute_request"
    assert codec.content(envelope) == {"code": "1"}
    assert WireCodec(b"other key").content(envelope) is None
    assert codec.envelope([b"no delimiter"]) is None
    assert msg_id


def test_connection_file_uses_ipc_sockets() -> None:
    connection = Connection.new("/run/kernel/k")
    info = connection.file_bytes()
    assert b'"transport":"ipc"' in info
    assert connection.socket_name("shell") == "k-1"


def test_output_is_capped_and_uncoloured() -> None:
    seen: list[str] = []
    out = OutputCollector(cap=10, max_images=1, on_output=seen.append)
    out.text("\x1b[31mred\x1b[0m ")
    out.text("0123456789")
    out.text("dropped")
    assert out.logs.startswith("red 012345\n[output truncated")
    assert out.truncated
    assert "".join(seen) == out.logs
    out.image(base64.b64encode(PNG_SIGNATURE + b"x").decode())
    out.image(base64.b64encode(PNG_SIGNATURE + b"y").decode())
    assert out.images == [PNG_SIGNATURE + b"x"]
    assert out.dropped_images == 1
    assert strip_ansi("\x1b]0;title\x07plain") == "plain"


def test_a_failing_listener_does_not_break_the_call() -> None:
    def explode(_: str) -> None:
        raise RuntimeError("listener bug")

    out = OutputCollector(cap=100, max_images=0, on_output=explode)
    out.text("a")
    out.text("b")
    assert out.logs == "ab"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "x\0y", "é" * 200])
def test_input_names_must_be_plain_file_names(name: str) -> None:
    with pytest.raises(InvalidInputFile):
        check_input_name(name)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="memory_bytes"):
        SandboxLimits(memory_bytes=0)
    assert SandboxLimits().address_space_bytes > SandboxLimits().memory_bytes


def test_layout_binds_the_venv_and_its_base_python() -> None:
    if not SANDBOX_PYTHON.exists():
        pytest.skip(f"{SANDBOX_PYTHON} missing (run `make sandbox`)")
    layout = discover_python(SANDBOX_PYTHON)
    venv = SANDBOX_PYTHON.parent.parent
    assert any(venv == d or d in venv.parents for d in layout.ro_dirs)
    assert all(Path("/usr") not in d.parents for d in layout.ro_dirs)


def test_seccomp_filter_compiles() -> None:
    assert len(build_filter_bpf()) > 100


def test_a_venv_under_tmp_is_bound_elsewhere(tmp_path: Path) -> None:
    """The sandbox mounts its own /tmp, so a venv there (a checkout in /tmp) is bound at
    /opt/python-N and its interpreter run from there; the base installation stays put."""
    base = Path(sys.base_prefix)
    venv = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        (venv / "bin").mkdir()
        (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\n")
        python = venv / "bin" / "python"
        python.symlink_to(Path(sys.executable).resolve())
        layout = discover_python(python)
        (inside,) = [inside for host, inside in layout.ro_binds if host == venv]
        assert str(inside).startswith("/opt/python-")
        assert layout.executable == inside / "bin" / "python"
        assert all(host == inside for host, inside in layout.ro_binds if host != venv)
    finally:
        shutil.rmtree(venv)


def test_bwrap_gets_a_fixed_environment_and_a_user_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-the-server")
    layout = discover_python(SANDBOX_PYTHON)
    fds = SandboxFds(seccomp=10, info=11, connection=12, startup=13, passwd=14, group=15)
    argv = bwrap_command("/usr/bin/bwrap", layout, SandboxLimits(), fds, ["python"])
    env = sandbox_environment(layout)
    assert "sk-secret-of-the-server" not in " ".join(argv)
    assert "OPENAI_API_KEY" not in env
    assert sorted(env) == FIXED_ENV_NAMES
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in argv
    setenv = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--setenv"]
    assert argv.index("--clearenv") < argv.index("--setenv")
    assert setenv == list(env)
    assert argv[argv.index("--uid") + 1] == argv[argv.index("--gid") + 1] == "1000"


def test_creating_as_switches_only_this_thread() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching the filesystem uid needs root")
    # In a folder that uid 65534 can reach: the switched thread cannot override permissions.
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        tmp_path = Path(folder)
        tmp_path.chmod(0o777)
        _create_three(tmp_path)


def _create_three(tmp_path: Path) -> None:
    switched, written = threading.Event(), threading.Event()

    def other_thread() -> None:
        switched.wait(10)
        (tmp_path / "other").write_bytes(b"")
        written.set()

    # Started before the switch: a thread started within it would inherit the switched ids.
    other = threading.Thread(target=other_thread)
    other.start()
    with creating_as((65534, 65534)):
        (tmp_path / "made").write_bytes(b"")
        switched.set()
        assert written.wait(10)
    other.join()
    (tmp_path / "after").write_bytes(b"")
    owners = {name: (tmp_path / name).stat() for name in ("made", "other", "after")}
    assert {name: (st.st_uid, st.st_gid) for name, st in owners.items()} == {
        "made": (65534, 65534),
        "other": (0, 0),
        "after": (0, 0),
    }
