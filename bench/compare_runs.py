"""Benchmark: run overhead and runs/s of the server at an older revision against the working tree.

Starts two servers side by side, both against the same zero-latency model
(`bench/zero_upstream.py`, its own process), each with SQLite in its own temporary data dir:
"old" runs the package of `--old REV`, checked out with `git worktree add --detach` into a
temporary folder (removed at the end) and imported through `PYTHONPATH=<folder>/src` with the
same venv's Python; "new" runs the working tree's package, uncommitted changes included. Before
each server starts, the launcher checks which `assistantd` its interpreter imports, and stops
with a message if it is not that side's tree.

Run from the repository root:

    .venv/bin/python bench/compare_runs.py --old REV [--rounds 3] [--n 100] [--seconds 10]

Figures, measured as `bench/runs.py` does (its functions):

- polled overhead: `create_and_poll(poll_interval_ms=1)` wall time minus upstream time, p50;
- streamed overhead: `runs.stream(...)` iterated to the end, wall time minus upstream time, p50;
- runs/s: `--clients` (8) client threads doing `create_and_poll` runs (poll 5 ms) back to back
  for `--seconds`, on threads created beforehand.

The sides take turns in `--rounds` rounds so that the machine's drift hits both: per round, old's
latency runs (`--warmup` untimed, then `--n` timed of each kind, the two kinds interleaved), then
new's, then old's throughput level, then new's. A figure is the median over the rounds of each
round's figure; the ratio is new / old, and the target is new within 5% of old. A benchmark, not
a test: it never fails on a slow figure.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import openai
from openai import OpenAI

from processes import REPO, ServerProcess, free_port, percentile
from runs import (
    MODEL,
    POLL_MS,
    POLLED,
    STREAMED,
    Level,
    Upstream,
    bench_level,
    check_answer,
    cpu_seconds,
    new_client,
    pool_size,
    running_server,
    running_upstream,
    sequential,
    wall_minus_upstream,
)

ROUNDS = 3
N = 100
WARMUP = 20
SECONDS = 10.0
CLIENTS = 8
TOLERANCE = 0.05  # the target: new within 5% of old


@dataclass
class Side:
    """One server under comparison, and its figures per round."""

    name: str
    server: ServerProcess
    client: OpenAI
    assistant_id: str
    polled: list[float] = field(default_factory=list)  # overhead p50 per round, ms
    streamed: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # runs/s per round
    levels: list[Level] = field(default_factory=list)
    idle_cpu: float = 0.0  # CPU seconds while the other side was measured
    idle_time: float = 0.0  # seconds the other side was measured


def git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached checkout of `rev` in a temporary folder, removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="assistantd-old-"))
    tree = folder / "tree"
    try:
        git("worktree", "add", "--detach", str(tree), rev)
        yield tree
    finally:
        if tree.exists():
            removed = subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
                text=True,
                check=False,
            )
            if removed.returncode != 0:
                print(f"git worktree remove {tree}: {removed.stderr.strip()}", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)


def measure_latency(side: Side, upstream: Upstream, n: int, warmup: int) -> None:
    series = sequential(
        side.client, side.assistant_id, [POLLED, STREAMED], n, warmup, upstream, side.server.pid
    )
    side.polled.append(percentile(series[POLLED.name].values(wall_minus_upstream), 50))
    side.streamed.append(percentile(series[STREAMED.name].values(wall_minus_upstream), 50))


def measure_throughput(side: Side, upstream: Upstream, clients: int, seconds: float) -> None:
    print(f"  {side.name}: throughput, polled runs, {clients} clients ...", flush=True)
    level = bench_level(
        side.server.base_url,
        side.assistant_id,
        upstream,
        {"server": side.server.pid},
        "polled",
        clients,
        seconds,
        pool_size(side.levels, seconds, clients),
        POLL_MS,
    )
    side.levels.append(level)
    side.rates.append(level.rate)


def while_idle(idle: Side, step: Callable[[], None]) -> None:
    """Run a measuring step of the other side, adding up the CPU `idle`'s server used meanwhile
    (both servers run throughout: an idle one should cost next to nothing)."""
    before, started = cpu_seconds(idle.server.pid), time.monotonic()
    step()
    after = cpu_seconds(idle.server.pid)
    if before is not None and after is not None:
        idle.idle_cpu += after - before
        idle.idle_time += time.monotonic() - started


def verdict(old: float, new: float, lower_is_better: bool) -> tuple[float, str]:
    """(new / old, whether that is within the target and by how much new is worse or better)."""
    if not (old > 0 and new >= 0):  # NaN: a side had no completed runs to time
        return math.nan, "no figure (see the failures above)"
    ratio = new / old
    worse = ratio - 1 if lower_is_better else 1 - ratio
    if worse > TOLERANCE:
        return ratio, f"MISSED: new {worse * 100:.1f}% worse"
    if worse > 0:
        return ratio, f"ok: new {worse * 100:.1f}% worse, within {TOLERANCE * 100:g}%"
    return ratio, f"ok: new {-worse * 100:.1f}% better"


def print_results(old: Side, new: Side, args: argparse.Namespace) -> None:
    rows = [
        ("polled overhead p50 (ms)", old.polled, new.polled, True),
        ("streamed overhead p50 (ms)", old.streamed, new.streamed, True),
        (f"runs/s, {args.clients} clients, polled", old.rates, new.rates, False),
    ]
    width = max(len(name) for name, *_ in rows)
    print(
        f"\nmedian over {args.rounds} round(s); ratio = new / old; target: new within "
        f"{TOLERANCE * 100:g}% of old (overhead: lower is better, ratio <= {1 + TOLERANCE:.2f}; "
        f"runs/s: higher is better, ratio >= {1 - TOLERANCE:.2f})"
    )
    print(f"{'figure':<{width}}  {'old':>7}  {'new':>7}  {'new/old':>7}  verdict")
    for name, old_values, new_values, lower_is_better in rows:
        old_median, new_median = statistics.median(old_values), statistics.median(new_values)
        ratio, said = verdict(old_median, new_median, lower_is_better)
        print(f"{name:<{width}}  {old_median:>7.2f}  {new_median:>7.2f}  {ratio:>7.3f}  {said}")
    print("per round (old | new):")
    for name, old_values, new_values, _ in rows:
        shown = " ".join(f"{v:.2f}" for v in old_values)
        shown += " | " + " ".join(f"{v:.2f}" for v in new_values)
        print(f"  {name:<{width}}  {shown}")
    idle = ", ".join(
        f"{side.name} {side.idle_cpu / side.idle_time * 100:.1f}%" if side.idle_time else "?"
        for side in (old, new)
    )
    print(f"CPU of the idle server while the other one was measured (100% = one core): {idle}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--old", required=True, help="git revision of the old side")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of both sides")
    parser.add_argument("--n", type=int, default=N, help="timed runs of each kind per round")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed runs of each first")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="throughput per round")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="throughput clients")
    args = parser.parse_args()
    if min(args.rounds, args.n, args.seconds, args.clients) <= 0 or args.warmup < 0:
        parser.error("--rounds, --n, --seconds and --clients must be positive")
    return args


def start_side(
    stack: ExitStack, name: str, source: Path, data_dir: Path, upstream_url: str
) -> Side:
    data_dir.mkdir()
    server = stack.enter_context(
        running_server(free_port(), data_dir, None, upstream_url, None, POLL_MS, source, name)
    )
    client = new_client(server.base_url)
    stack.callback(client.close)
    assistant = client.beta.assistants.create(model=MODEL, instructions="Be brief.")
    check_answer(client, assistant.id)
    print(f"{name}: pid {server.pid}, assistantd from {server.package_file().parent}", flush=True)
    return Side(name, server, client, assistant.id)


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = parse_args()
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", f"{args.old}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise SystemExit(f"--old {args.old}: not a commit of the repository at {REPO}")
    old_commit = found.stdout.strip()
    print(
        f"assistantd compare runs bench: python {platform.python_version()}, "
        f"openai {openai.__version__}, {os.cpu_count()} cpus, SQLite per side\n"
        f"old: {git('log', '-1', '--format=%h %s', old_commit)}\n"
        f"new: the working tree (HEAD {git('rev-parse', '--short', 'HEAD')}, uncommitted "
        "changes included)\n"
        f"{args.rounds} round(s) of: {args.n} runs of each kind after {args.warmup} warm-up "
        f"runs (polled poll 1 ms, streamed; one client), then {args.seconds:g} s of "
        f"{args.clients} clients (polled, poll {POLL_MS} ms); old first",
        flush=True,
    )
    upstream_port = free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    with (
        tempfile.TemporaryDirectory(prefix="assistantd-bench-") as tmp,
        worktree(old_commit) as old_tree,
        running_upstream(upstream_port, Path(tmp)),
        ExitStack() as stack,
    ):
        upstream = Upstream(upstream_port)
        old = start_side(stack, "old", old_tree, Path(tmp) / "old", upstream_url)
        new = start_side(stack, "new", REPO, Path(tmp) / "new", upstream_url)
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}: latency, then throughput ...", flush=True)
            for active, idle in ((old, new), (new, old)):
                while_idle(idle, partial(measure_latency, active, upstream, args.n, args.warmup))
            for active, idle in ((old, new), (new, old)):
                throughput = partial(
                    measure_throughput, active, upstream, args.clients, args.seconds
                )
                while_idle(idle, throughput)
        print_results(old, new, args)


if __name__ == "__main__":
    main()
