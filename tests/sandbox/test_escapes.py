"""Escapes and abuse: each is stopped, and another session carries on unaffected."""

from __future__ import annotations

import ast
import asyncio
import os
import secrets
import signal
import socket
import subprocess
from collections.abc import Awaitable
from pathlib import Path

import pytest

from assistantd.sandbox import (
    BubblewrapBackend,
    ExecutionResult,
    KernelSession,
    SessionDied,
    SessionManager,
)

from .conftest import SANDBOX_PYTHON, TEST_LIMITS, Loop, assert_answers
from .probes import FIXED_ENV_NAMES, ScanReport, scan_code, socket_inodes

# The escape tests are part of the fault-and-abuse suite too (`-m abuse`).
pytestmark = pytest.mark.abuse

# Closing flushes what the full file system refused: that error is expected.
_CLOSE_AND_REMOVE = (
    "import contextlib, os\nwith contextlib.suppress(OSError):\n    f.close()\nos.remove({!r})"
)


async def _outcome(call: Awaitable[ExecutionResult]) -> ExecutionResult | SessionDied:
    try:
        return await call
    except SessionDied as died:
        return died


def _fails_with(result_error: object, *names: str) -> bool:
    return result_error is not None and getattr(result_error, "ename", None) in names


def unprivileged_user_namespaces() -> bool:
    """Whether an unprivileged uid may create a user namespace on this machine (then the
    sandbox must not run as the host's root)."""
    try:
        done = subprocess.run(
            ["unshare", "--user", "true"],
            user=TEST_LIMITS.fallback_uid if os.geteuid() == 0 else None,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def usable_by_fallback_uid(python: Path) -> bool:
    """Whether the unprivileged uid the sandbox runs as (when the server is root) can start
    the sandbox Python: when it cannot (e.g. a Python installed under /root), the probe falls
    back to running bwrap as root."""
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", "import ipykernel, zmq"],
            user=TEST_LIMITS.fallback_uid,
            group=TEST_LIMITS.fallback_gid,
            extra_groups=[],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def kernel_must_not_be_host_root() -> bool:
    """Where the kernel must run as an unprivileged host uid: the server is root, unprivileged
    user namespaces work, and that uid can run the sandbox Python."""
    return (
        os.geteuid() == 0
        and unprivileged_user_namespaces()
        and usable_by_fallback_uid(SANDBOX_PYTHON)
    )


def host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


# What a session's descriptors may be: its own pipes, sockets and event descriptors, or files
# of its own.
_OWN_TARGETS = ("pipe:[", "socket:[", "anon_inode:", "/dev/null", "/mnt/data/", "/tmp/", "/run/")


def test_the_servers_environment_and_descriptors_are_invisible(
    loop: Loop,
    sandbox_backend: BubblewrapBackend,
    sessions_root: Path,
    bystander: KernelSession,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    canary = f"canary-{secrets.token_hex(16)}"
    monkeypatch.setenv("ASSISTANTD_UPSTREAM_API_KEY", canary)
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{canary}")
    # Descriptors of the server that a careless spawn would hand down: a file named after the
    # canary and a listening socket, both inheritable.
    leaked_file = os.open(tmp_path / f"{canary}.db", os.O_RDWR | os.O_CREAT, 0o600)
    listener = socket.create_server(("127.0.0.1", 0))
    os.set_inheritable(leaked_file, True)
    listener.set_inheritable(True)
    try:
        session = loop.run(sandbox_backend.start_session(sessions_root / f"scan-{canary}"))
        try:
            result = loop.run(session.execute(scan_code(canary), timeout=120))
            kernel_host_uid = host_uid(_kernel_pid(session))
        finally:
            loop.run(session.close())
        server_sockets = socket_inodes()
    finally:
        os.close(leaked_file)
        listener.close()
    assert result.error is None, result.logs[-3000:]
    report = ScanReport.parse(result.logs)
    assert report.hits == []
    # The scan did look: every process's environment and command line, the whole tree.
    assert report.read > 300
    assert report.walked > 1000
    assert sorted(report.environ) == sorted(report.cmdline) == report.pids
    assert 1 in report.pids
    assert len(report.pids) < 5
    for pid, names in report.environ.items():
        assert set(names) <= set(FIXED_ENV_NAMES) | {"PWD"}, (pid, names)
    targets = report.descriptor_targets()
    assert all(target.startswith(_OWN_TARGETS) for target in targets), targets
    assert not targets & server_sockets
    # Inside its namespace the kernel is the unprivileged sandbox user, and on the host it is
    # not root wherever the kernel lets an unprivileged uid create a user namespace.
    assert (report.uid, report.gid) == (1000, 1000)
    assert kernel_host_uid == sandbox_backend.host_uid
    if kernel_must_not_be_host_root():
        assert kernel_host_uid != 0
    assert_answers(loop, bystander)


def test_host_files_are_invisible(
    loop: Loop,
    shared_session: KernelSession,
    bystander: KernelSession,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    other_dir = bystander.session_dir
    loop.run(bystander.execute("open('/mnt/data/mine.txt', 'w').write('bystander')", timeout=10))
    targets = [
        str(secret),
        "/etc/shadow",
        "/etc/hostname",
        str(other_dir / "kernel.log"),
        f"/proc/{bystander.sandbox_pid}/root/mnt/data/mine.txt",
        f"/proc/{os.getpid()}/environ",
    ]
    for target in targets:
        result = loop.run(shared_session.execute(f"open({target!r}).read()", timeout=10))
        assert _fails_with(result.error, "FileNotFoundError", "PermissionError"), (
            target,
            result.logs,
        )
    listing = loop.run(shared_session.execute("import os; sorted(os.listdir('/'))", timeout=10))
    assert "home" not in listing.logs
    assert "var" not in listing.logs
    pids = loop.run(
        shared_session.execute(
            "sorted(int(p) for p in os.listdir('/proc') if p.isdigit())", timeout=10
        )
    )
    visible = ast.literal_eval(pids.logs)
    assert len(visible) < 5  # its own pid namespace: bwrap's init, the kernel, a helper or two
    assert os.getpid() not in visible
    assert_answers(loop, bystander)


def test_no_network_but_unix_sockets(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    code = (
        "import socket\n"
        "results = {}\n"
        "for name in ('AF_INET', 'AF_INET6', 'AF_PACKET'):\n"
        "    try:\n"
        "        socket.socket(getattr(socket, name)).connect(('127.0.0.1', 80))\n"
        "        results[name] = 'connected'\n"
        "    except OSError as exc:\n"
        "        results[name] = exc.errno\n"
        "socket.socket(socket.AF_UNIX).close()\n"
        "print(results)\n"
    )
    result = loop.run(shared_session.execute(code, timeout=10))
    assert result.error is None, result.logs
    assert "connected" not in result.logs
    assert result.logs.count("97") == 3  # EAFNOSUPPORT from the seccomp filter
    assert_answers(loop, bystander)


def test_dangerous_syscalls_are_denied(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {\n"
        "    'unshare': lambda: libc.unshare(0x10000000),\n"
        "    'mount': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),\n"
        "    'ptrace': lambda: libc.ptrace(16, 1, None, None),\n"
        "    'chroot': lambda: libc.chroot(b'/tmp'),\n"
        "}\n"
        "for name, call in calls.items():\n"
        "    print(name, call(), os.strerror(ctypes.get_errno()))\n"
    )
    result = loop.run(shared_session.execute(code, timeout=10))
    assert result.error is None, result.logs
    for name in ("unshare", "mount", "ptrace", "chroot"):
        assert f"{name} -1 Operation not permitted" in result.logs
    assert_answers(loop, bystander)


def test_writes_outside_the_data_folder_fail(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    venv_file = str(Path(os.environ.get("VIRTUAL_ENV", "/usr")) / "planted.txt")
    for target in ("/usr/planted.txt", "/planted.txt", "/etc/passwd", venv_file):
        result = loop.run(shared_session.execute(f"open({target!r}, 'w').write('x')", timeout=10))
        assert _fails_with(result.error, "OSError", "PermissionError", "FileNotFoundError"), (
            target,
            result.logs,
        )
    assert not Path("/usr/planted.txt").exists()
    assert not Path("/planted.txt").exists()
    # /tmp is writable but capped.
    code = "f = open('/tmp/fill', 'wb')\nfor _ in range(200):\n    f.write(b'0' * (1 << 20))\n"
    result = loop.run(shared_session.execute(code, timeout=30))
    assert result.error is not None
    assert "No space left on device" in result.error.evalue
    cleanup = loop.run(shared_session.execute(_CLOSE_AND_REMOVE.format("/tmp/fill"), timeout=10))
    assert cleanup.error is None, cleanup.logs
    assert_answers(loop, bystander)


def test_a_huge_file_is_stopped_by_the_folder_cap(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    code = (
        "f = open('/mnt/data/huge.bin', 'wb')\n"
        "for _ in range(10 * 1024):  # 10 GB\n"
        "    f.write(b'0' * (1 << 20))\n"
    )
    result = loop.run(shared_session.execute(code, timeout=60))
    assert result.error is not None
    assert "No space left on device" in result.error.evalue
    assert [f.path for f in result.new_files] == ["/mnt/data/huge.bin"]
    assert result.new_files[0].size <= TEST_LIMITS.data_dir_bytes
    after = loop.run(
        shared_session.execute(_CLOSE_AND_REMOVE.format("/mnt/data/huge.bin"), timeout=10)
    )
    assert after.error is None, after.logs
    assert_answers(loop, bystander)


def test_an_infinite_loop_is_interrupted_and_state_kept(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    loop.run(shared_session.execute("kept = 'yes'", timeout=10))
    result = loop.run(shared_session.execute("while True:\n    pass", timeout=1.0))
    assert result.timed_out
    assert result.error is not None
    assert result.error.ename == "KeyboardInterrupt"
    assert "ran longer than the 1 s limit" in result.logs
    again = loop.run(shared_session.execute("kept", timeout=10))
    assert again.logs == "'yes'\n"
    assert_answers(loop, bystander)


def test_printing_100_mb_is_capped(
    loop: Loop, shared_session: KernelSession, bystander: KernelSession
) -> None:
    result = loop.run(shared_session.execute("print('x' * 100_000_000)", timeout=60))
    assert result.logs_truncated
    assert len(result.logs) <= TEST_LIMITS.output_chars + 200
    assert "[output truncated" in result.logs
    flood = loop.run(shared_session.execute("for i in range(300_000):\n    print(i)", timeout=60))
    assert flood.logs_truncated
    assert flood.error is None
    assert_answers(loop, bystander)


@pytest.mark.slow
def test_a_fork_bomb_is_bounded(
    loop: Loop, manager: SessionManager, bystander: KernelSession
) -> None:
    loop.run(manager.execute("bomb", "state = 1", timeout=10))
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    outcome = loop.run(_outcome(manager.execute("bomb", code, timeout=3)))
    if isinstance(outcome, SessionDied):
        assert outcome.reason
    else:
        assert outcome.timed_out  # interrupted in time: the session survived
    # Either way the key gets a working session again.
    after = loop.run(manager.execute("bomb", "print('recovered')", timeout=10))
    assert "recovered" in after.logs
    assert_answers(loop, bystander)


@pytest.mark.slow
def test_memory_is_limited(loop: Loop, manager: SessionManager, bystander: KernelSession) -> None:
    loop.run(manager.execute("mem", "state = 1", timeout=10))
    # Past RLIMIT_AS: a clean MemoryError, the session and its state survive.
    huge = loop.run(manager.execute("mem", "x = bytearray(64 << 30)", timeout=30))
    assert huge.error is not None
    assert huge.error.ename == "MemoryError"
    assert loop.run(manager.execute("mem", "state", timeout=10)).logs == "1\n"
    # Within RLIMIT_AS but past the cgroup limit: the OOM killer ends the session.
    code = "blocks = []\nfor _ in range(100):\n    blocks.append(bytearray(16 << 20))"
    outcome = loop.run(_outcome(manager.execute("mem", code, timeout=30)))
    if isinstance(outcome, SessionDied):
        assert "memory" in outcome.reason
    else:
        assert outcome.error is not None
        assert outcome.error.ename == "MemoryError"
    after = loop.run(manager.execute("mem", "print('fresh')", timeout=10))
    assert after.logs == "fresh\n"
    assert_answers(loop, bystander)


def _kernel_pid(session: KernelSession) -> int:
    init = session.sandbox_pid
    children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.mark.slow
def test_a_kernel_killed_mid_call(
    loop: Loop, manager: SessionManager, bystander: KernelSession
) -> None:
    loop.run(manager.execute("victim", "state = 'old'", timeout=10))
    session = loop.run(manager.session("victim"))
    assert isinstance(session, KernelSession)

    async def kill_during_call() -> None:
        call = asyncio.create_task(
            manager.execute("victim", "import time; time.sleep(30)", timeout=60)
        )
        await asyncio.sleep(0.5)
        os.kill(_kernel_pid(session), signal.SIGKILL)
        with pytest.raises(SessionDied):
            await asyncio.wait_for(call, 5)

    loop.run(kill_during_call())
    fresh = loop.run(manager.execute("victim", "'state' in globals()", timeout=10))
    assert fresh.logs == "False\n"
    assert_answers(loop, bystander)


def test_a_kernel_killed_between_calls(
    loop: Loop, manager: SessionManager, bystander: KernelSession
) -> None:
    loop.run(manager.execute("idle-victim", "state = 1", timeout=10))
    session = loop.run(manager.session("idle-victim"))
    assert isinstance(session, KernelSession)
    os.kill(_kernel_pid(session), signal.SIGKILL)
    loop.run(asyncio.sleep(0.3))
    fresh = loop.run(manager.execute("idle-victim", "'state' in globals()", timeout=10))
    assert fresh.logs == "False\n"
    assert_answers(loop, bystander)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_an_endless_zmq_message_cannot_exhaust_the_server(
    loop: Loop, manager: SessionManager, bystander: KernelSession
) -> None:
    # ZMQ buffers a multipart message until its last part: 3 GB of parts that never end must
    # land in the session's relay (inside its memory limit), not in the server.
    code = (
        "import zmq\n"
        "sock = get_ipython().kernel.iopub_thread.socket\n"
        "for _ in range(400):\n"
        "    sock.send(b'x' * (8 << 20), zmq.SNDMORE)\n"
    )
    loop.run(manager.execute("flood", "1", timeout=10))
    before = _rss_mb()
    outcome = loop.run(_outcome(manager.execute("flood", code, timeout=20)))
    assert _rss_mb() - before < 100
    if isinstance(outcome, SessionDied):
        assert outcome.reason
    after = loop.run(manager.execute("flood", "print('next')", timeout=10))
    assert after.logs == "next\n"
    assert_answers(loop, bystander)


def test_a_lost_relay_ends_the_session(
    loop: Loop, manager: SessionManager, bystander: KernelSession
) -> None:
    loop.run(manager.execute("relay-victim", "state = 1", timeout=10))
    session = loop.run(manager.session("relay-victim"))
    assert isinstance(session, KernelSession)
    os.kill(session.host_pids[1], signal.SIGKILL)
    loop.run(asyncio.sleep(0.3))
    assert not session.alive
    fresh = loop.run(manager.execute("relay-victim", "'state' in globals()", timeout=10))
    assert fresh.logs == "False\n"
    # The old sandbox was killed: bwrap is reaped, what was inside is gone or a zombie.
    assert not Path(f"/proc/{session.host_pids[0]}").exists()
    assert not _running(session.sandbox_pid)
    assert_answers(loop, bystander)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
