"""A real kernel in its sandbox: state, logs, errors, images, input and output files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from assistantd.sandbox import (
    BubblewrapBackend,
    InputFile,
    KernelSession,
    OutputFile,
    OutputFileError,
    SandboxUnavailable,
)
from assistantd.sandbox.output import PNG_SIGNATURE

from .conftest import SANDBOX_PYTHON, TEST_LIMITS, Loop


def test_state_persists_between_calls(loop: Loop, shared_session: KernelSession) -> None:
    first = loop.run(shared_session.execute("counter = 41", timeout=10))
    second = loop.run(shared_session.execute("counter + 1", timeout=10))
    assert first.logs == ""
    assert first.error is None
    assert second.logs == "42\n"


def test_print_goes_to_the_logs(loop: Loop, shared_session: KernelSession) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\n'value'"
    result = loop.run(shared_session.execute(code, timeout=10))
    assert result.logs == "out\nerr\n'value'\n"
    assert result.error is None
    assert not result.timed_out
    assert not result.logs_truncated


def test_output_streams_while_the_code_runs(loop: Loop, shared_session: KernelSession) -> None:
    arrivals: list[tuple[float, str]] = []
    code = "import time\nprint('first', flush=True)\ntime.sleep(1.0)\nprint('second')"
    started = time.monotonic()
    result = loop.run(
        shared_session.execute(
            code, timeout=10, on_output=lambda text: arrivals.append((time.monotonic(), text))
        )
    )
    ended = time.monotonic()
    assert "".join(text for _, text in arrivals) == result.logs == "first\nsecond\n"
    assert arrivals[0][0] - started < ended - started - 0.5


def test_an_exception_is_a_normal_result(loop: Loop, shared_session: KernelSession) -> None:
    result = loop.run(shared_session.execute("def f():\n    return 1 / 0\nf()", timeout=10))
    assert result.error is not None
    assert result.error.ename == "ZeroDivisionError"
    assert result.error.evalue == "division by zero"
    assert "Traceback" in result.logs
    assert "----> 3 f()" in result.logs
    assert "ZeroDivisionError: division by zero" in result.logs
    assert "\x1b" not in result.logs
    after = loop.run(shared_session.execute("'alive'", timeout=10))
    assert after.logs == "'alive'\n"


@pytest.mark.slow
def test_plt_show_returns_a_png(loop: Loop, shared_session: KernelSession) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')\nplt.show()"
    result = loop.run(shared_session.execute(code, timeout=60))
    assert result.error is None, result.logs
    assert len(result.images) == 1
    assert result.images[0].startswith(PNG_SIGNATURE)
    assert "Figure" not in result.logs


@pytest.mark.slow
def test_input_files_are_readable_copies(
    loop: Loop, shared_session: KernelSession, tmp_path: Path
) -> None:
    original = tmp_path / "sales.csv"
    original.write_bytes(b"region,amount\nnorth,3\nsouth,4\n")
    loop.run(shared_session.add_files([InputFile("sales.csv", original)]))
    code = (
        "import os, pandas as pd\n"
        "df = pd.read_csv('/mnt/data/sales.csv')\n"
        "print(df['amount'].sum())\n"
        "try:\n"
        "    open('/mnt/data/sales.csv', 'w')\n"
        "except PermissionError:\n"
        "    print('read-only')\n"
        "os.chmod('/mnt/data/sales.csv', 0o644)  # a determined program may change its copy\n"
        "open('/mnt/data/sales.csv', 'w').write('overwritten')\n"
    )
    result = loop.run(shared_session.execute(code, timeout=60))
    assert result.error is None, result.logs
    assert result.logs.startswith("7\nread-only\n")
    assert original.read_bytes() == b"region,amount\nnorth,3\nsouth,4\n"
    # The modified copy is reported; an input added again under its name is left as it is.
    assert [f.path for f in result.new_files] == ["/mnt/data/sales.csv"]
    loop.run(shared_session.add_files([InputFile("sales.csv", original)]))
    again = loop.run(shared_session.execute("open('/mnt/data/sales.csv').read()", timeout=10))
    assert again.logs == "'overwritten'\n"


def test_new_and_modified_files_are_reported(loop: Loop, shared_session: KernelSession) -> None:
    loop.run(shared_session.add_files([InputFile("notes.txt", b"input")]))
    code = (
        "import os\n"
        "os.makedirs('/mnt/data/out', exist_ok=True)\n"
        "open('/mnt/data/out/result.txt', 'w').write('hello')\n"
        "open('relative.txt', 'w').write('cwd is /mnt/data')\n"
        "os.symlink('/etc/passwd', '/mnt/data/link')\n"
        "open('/tmp/not-reported.txt', 'w').write('tmp')\n"
        "print(open('/mnt/data/notes.txt').read())\n"
    )
    result = loop.run(shared_session.execute(code, timeout=10))
    assert result.error is None, result.logs
    assert result.logs == "input\n"
    assert sorted(result.new_files, key=lambda f: f.path) == [
        OutputFile("/mnt/data/out/result.txt", 5),
        OutputFile("/mnt/data/relative.txt", 16),
    ]
    assert loop.run(shared_session.read_output("/mnt/data/out/result.txt")) == b"hello"
    assert loop.run(shared_session.read_output("relative.txt")) == b"cwd is /mnt/data"
    # Symlinks planted by the code are never followed on the host.
    for path in ("/mnt/data/link", "/mnt/data/../etc/passwd", "/mnt/data/out"):
        with pytest.raises(OutputFileError):
            loop.run(shared_session.read_output(path))
    unchanged = loop.run(shared_session.execute("1", timeout=10))
    assert unchanged.new_files == []


def test_input_files_at_start(
    loop: Loop, sandbox_backend: BubblewrapBackend, tmp_path: Path
) -> None:
    session = loop.run(
        sandbox_backend.start_session(tmp_path / "s", [InputFile("data.json", b'{"a": 1}')])
    )
    try:
        result = loop.run(
            session.execute("import json; json.load(open('/mnt/data/data.json'))", timeout=10)
        )
        assert result.logs == "{'a': 1}\n"
    finally:
        loop.run(session.close())
    assert not session.alive


def test_probe_reports_a_missing_bubblewrap(loop: Loop, tmp_path: Path) -> None:
    backend = BubblewrapBackend(
        SANDBOX_PYTHON, bwrap=str(tmp_path / "no-bwrap"), limits=TEST_LIMITS
    )
    try:
        probe = loop.run(backend.probe())
        assert not probe.available
        assert "bwrap" in probe.reason or "bubblewrap" in probe.reason
        started = time.monotonic()
        with pytest.raises(SandboxUnavailable):
            loop.run(backend.start_session(tmp_path / "s"))
        assert time.monotonic() - started < 1.0
    finally:
        loop.run(backend.aclose())


def test_probe_reports_a_missing_sandbox_python(loop: Loop, tmp_path: Path) -> None:
    backend = BubblewrapBackend(tmp_path / "bin" / "python", limits=TEST_LIMITS)
    try:
        probe = loop.run(backend.probe())
        assert not probe.available
        assert "assistantd sandbox install" in probe.reason
    finally:
        loop.run(backend.aclose())


def test_probe_succeeds_here(loop: Loop, sandbox_backend: BubblewrapBackend) -> None:
    probe = loop.run(sandbox_backend.probe())
    assert probe.available, probe.reason


def test_a_cancelled_call_stops_the_code(loop: Loop, shared_session: KernelSession) -> None:
    async def cancel_then_run() -> float:
        call = asyncio.create_task(
            shared_session.execute("import time\nlong_call = 1\ntime.sleep(30)", timeout=60)
        )
        await asyncio.sleep(0.5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        started = time.monotonic()
        result = await shared_session.execute("long_call", timeout=10)
        assert result.logs == "1\n"
        return time.monotonic() - started

    assert loop.run(cancel_then_run()) < 5
