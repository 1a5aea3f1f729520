"""Process and statistics helpers shared by the benchmark scripts in this folder.

The scripts start the assistantd server with the launcher the tests use,
`tests.support.server.ServerProcess` (re-exported here), through `serving`, which always stops
it and prints how that went. Their other child processes (a zero-latency upstream) are started
on free ports, waited for until they answer a readiness URL and stopped with SIGTERM (SIGKILL
after a grace period) with the helpers here, and `percentile` summarises latencies. The scripts
import all this as `from processes import ...`, which works because a script run as
`python bench/<name>.py` has this folder on `sys.path`.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A script run as `python bench/<name>.py` has only this folder on `sys.path`; the repository
# root goes right after it so that the benches can import the server launcher the tests use
# (`tests/support/server.py`): one way of starting and stopping the server for both.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

from tests.support.postgres import postgres_cluster as postgres_cluster  # noqa: E402
from tests.support.server import ServerProcess as ServerProcess  # noqa: E402
from tests.support.server import StopReport  # noqa: E402
from tests.support.server import free_port as free_port  # noqa: E402

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            status: int = resp.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def wait_ready(name: str, process: subprocess.Popen[bytes], ready_url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early with code {process.returncode}")
        if responds(ready_url):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready after {STARTUP_TIMEOUT_S:g} s")


def stop(name: str, process: subprocess.Popen[bytes], log_path: Path, graceful_line: str) -> None:
    """SIGTERM, then SIGKILL after a grace period; says how it went (as the server's stop)."""
    sig, grace = signal.SIGTERM, STOP_TIMEOUT_S
    if process.poll() is not None:
        report = StopReport(process.returncode, sig, grace, already_exited=True)
    else:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace)
            report = StopReport(
                process.returncode, sig, grace, graceful=graceful_line in tail(log_path)
            )
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            report = StopReport(process.returncode, sig, grace, killed=True)
    print(report.describe(name))


@contextmanager
def serving(
    server: ServerProcess, name: str = "server", quiet: bool = False
) -> Iterator[ServerProcess]:
    """Start the server, yield it, print its log's tail if the bench fails, and always stop it
    (SIGTERM, SIGKILL after a grace period), saying how that went unless `quiet`."""
    server.start(timeout=STARTUP_TIMEOUT_S)  # if it does not start, its error holds the log
    try:
        yield server
    except Exception:
        print(f"{name} log tail:\n{server.log()[-4000:]}", file=sys.stderr)
        raise
    finally:
        server.stop(signal.SIGTERM, STOP_TIMEOUT_S)
        if server.last_stop is not None and not quiet:
            print(server.last_stop.describe(name))


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
