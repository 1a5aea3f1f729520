"""Benchmark: the code_interpreter sandbox (bubblewrap + ipykernel), used as a library.

Prints the session start time (start_session until the kernel answers), the per-call overhead
of running `1+1` on a warm session, and the memory of idle sessions: RSS and PSS summed over
each session's processes (bwrap, the namespace's init, the kernel, the relay), from
/proc/<pid>/smaps_rollup, for a bare kernel and after importing numpy, pandas and matplotlib.

Run from the repository root, after `make sandbox`:

    .venv/bin/python bench/sandbox.py [--starts 10] [--calls 300] [--idle 4]

This is a benchmark, not a test: it never fails on a slow figure, it only prints the targets
beside the results. Targets (2 cores): start p50 <= 1 s, call overhead p50 <= 10 ms, idle
session <= 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path

from assistantd.sandbox import BubblewrapBackend, KernelSession, SandboxLimits
from processes import percentile

START_TARGET_S = 1.0
CALL_TARGET_MS = 10.0
IDLE_TARGET_MB = 80.0
REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def memory_mb(session: KernelSession) -> tuple[float, float]:
    """(RSS, PSS) in MB of the session's processes: bwrap, everything in the sandbox, the relay."""
    rss = pss = 0
    for pid in (pid for root in session.host_pids for pid in _tree(root)):
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key == "Rss":
                rss += int(value.split()[0])
            elif key == "Pss":
                pss += int(value.split()[0])
    return rss / 1024, pss / 1024


def _line(name: str, values: list[float], unit: str, target: str) -> None:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    print(f"{name:<34} p50 {p50:8.2f} {unit}   p95 {p95:8.2f} {unit}   ({target})")


async def run(args: argparse.Namespace) -> None:
    backend = BubblewrapBackend(args.python, limits=SandboxLimits())
    probe = await backend.probe()
    print(probe.reason)
    if not probe.available:
        sys.exit(1)
    root = Path(tempfile.mkdtemp(prefix="sbx-bench-"))
    try:
        starts: list[float] = []
        for i in range(args.starts):
            began = time.perf_counter()
            session = await backend.start_session(root / f"start{i}")
            starts.append(time.perf_counter() - began)
            await session.close()
        _line("session start", starts, "s ", f"target <= {START_TARGET_S:g} s")

        session = await backend.start_session(root / "calls")
        for _ in range(args.warmup):
            await session.execute("1+1", timeout=10)
        calls: list[float] = []
        for _ in range(args.calls):
            began = time.perf_counter()
            result = await session.execute("1+1", timeout=10)
            calls.append((time.perf_counter() - began) * 1000)
            assert result.logs == "2\n", result.logs
        await session.close()
        _line("call overhead (1+1)", calls, "ms", f"target <= {CALL_TARGET_MS:g} ms")

        idle = [await backend.start_session(root / f"idle{i}") for i in range(args.idle)]
        for session in idle:
            await session.execute("1+1", timeout=10)
        await asyncio.sleep(1.0)
        bare = [memory_mb(session) for session in idle]
        _line("idle session RSS", [rss for rss, _ in bare], "MB", "sum over the process tree")
        _line(
            "idle session PSS", [pss for _, pss in bare], "MB", f"target <= {IDLE_TARGET_MB:g} MB"
        )
        code = "import numpy, pandas, matplotlib.pyplot"
        for session in idle:
            await session.execute(code, timeout=60)
        await asyncio.sleep(1.0)
        loaded = [memory_mb(session) for session in idle]
        _line("RSS after numpy/pandas/matplotlib", [rss for rss, _ in loaded], "MB", "info")
        _line("PSS after numpy/pandas/matplotlib", [pss for _, pss in loaded], "MB", "info")
        for session in idle:
            await session.close()
    finally:
        await backend.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python",
        type=Path,
        default=REPO / ".venv-sandbox" / "bin" / "python",
        help="the sandbox's Python (default: .venv-sandbox/bin/python)",
    )
    parser.add_argument("--starts", type=int, default=10, help="sessions started and timed")
    parser.add_argument("--calls", type=int, default=300, help="timed `1+1` calls")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first")
    parser.add_argument("--idle", type=int, default=4, help="idle sessions measured")
    args = parser.parse_args()
    print(f"{platform.node()}: {platform.python_version()}, {platform.machine()}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
