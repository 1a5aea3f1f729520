"""Process and statistics helpers shared by the benchmark scripts in this folder.

The scripts (`messages.py`, `runs.py`) start their own child processes (the server, a
zero-latency upstream) on free ports, wait until each answers a readiness URL, stop each with
SIGTERM (SIGKILL after a grace period) while printing how it went, and summarise latencies as
percentiles. They import these helpers as `from processes import ...`, which works because a
script run as `python bench/<name>.py` has this folder on `sys.path`.
"""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    """SIGTERM, then SIGKILL after a grace period; says how it went."""
    if process.poll() is not None:
        print(f"{name} had already exited with code {process.returncode}")
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print(f"{name} ignored SIGTERM for {STOP_TIMEOUT_S:g} s and was killed")
        return
    graceful = graceful_line in tail(log_path)
    print(
        f"{name} stopped with SIGTERM: exit code {process.returncode}, "
        f"{'graceful shutdown logged' if graceful else 'no graceful shutdown in its log'}"
    )


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
