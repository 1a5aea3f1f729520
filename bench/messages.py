"""Benchmark: message create, list, retrieve and thread retrieve latency.

Starts a real `assistantd serve` process on a free port with a temporary data dir (SQLite by
default, or `--database-url`), drives it through the real `openai` SDK and prints p50/p95
latencies per operation, both server-side (the `server-timing: app;dur=...` header, measured
inside the server) and client-side (wall time around the SDK call, including parsing).

Run from the repository root:

    .venv/bin/python bench/messages.py [--n 500] [--big 10000] [--database-url URL]

This is a benchmark, not a test: it never fails on a slow figure, it only prints the targets
beside the results. `ASSISTANTD_*` variables are not passed to the server, so runs compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import openai
from openai import OpenAI

from processes import ServerProcess, free_port, percentile, serving

WARMUP = 50
FILL_WORKERS = 8
PAGE_LIMIT = 20
SMALL_THREAD = 100
CREATE_TARGET_MS = 3.0
LIST_TARGET_MS = 5.0


class RawResponse(Protocol):
    """What the SDK's `with_raw_response` calls give back (the parts used here)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def parse(self) -> Any: ...


RawCall = Callable[[], RawResponse]


@dataclass(frozen=True)
class Stats:
    """Latency percentiles of one operation, in milliseconds."""

    name: str
    n: int
    server_p50: float
    server_p95: float
    client_p50: float
    client_p95: float
    target: str = ""


# --- server process -------------------------------------------------------------------------


@contextmanager
def running_server(port: int, data_dir: Path, database_url: str | None) -> Iterator[str]:
    """Start the server, yield its base URL, and always stop it with SIGTERM."""
    server = ServerProcess(data_dir, database_url=database_url, port=port)
    try:
        with serving(server, quiet=True):
            yield server.base_url
    finally:
        print()
        # uvicorn re-raises the signal after its graceful shutdown, hence exit code -15
        if server.last_stop is not None:
            print(server.last_stop.describe("server"))


# --- measuring ------------------------------------------------------------------------------


def server_ms(headers: Mapping[str, str]) -> float:
    """Read `app;dur=1.234` from the server-timing header."""
    value = headers.get("server-timing", "")
    for metric in value.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name != "app":
            continue
        for param in params:
            key, _, number = param.partition("=")
            if key == "dur":
                return float(number)
    raise RuntimeError(f"no 'app;dur=' in server-timing header: {value!r}")


def timed(call: RawCall) -> tuple[float, float, Any]:
    """One SDK call: (server ms, client ms, parsed result)."""
    started = time.perf_counter()
    raw = call()
    parsed = raw.parse()
    client = (time.perf_counter() - started) * 1000
    return server_ms(raw.headers), client, parsed


def measure(name: str, call: RawCall, n: int, warmup: int, target: str = "") -> Stats:
    for _ in range(warmup):
        timed(call)
    server: list[float] = []
    client: list[float] = []
    for _ in range(n):
        s, c, _parsed = timed(call)
        server.append(s)
        client.append(c)
    return Stats(
        name=name,
        n=n,
        server_p50=percentile(server, 50),
        server_p95=percentile(server, 95),
        client_p50=percentile(client, 50),
        client_p95=percentile(client, 95),
        target=target,
    )


# --- data set-up ----------------------------------------------------------------------------


def new_thread(client: OpenAI) -> str:
    thread_id: str = client.beta.threads.create().id
    return thread_id


def add_message(client: OpenAI, thread_id: str, i: int) -> str:
    message = client.beta.threads.messages.create(
        thread_id, role="user", content=f"benchmark message {i}: the quick brown fox jumps"
    )
    message_id: str = message.id
    return message_id


def fill_thread(client: OpenAI, count: int) -> tuple[str, list[str]]:
    """A new thread with `count` messages, created by concurrent workers; prints the time."""
    thread_id = new_thread(client)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=FILL_WORKERS) as pool:
        ids = list(pool.map(lambda i: add_message(client, thread_id, i), range(count)))
    elapsed = time.perf_counter() - started
    print(
        f"filled thread with {count:,} messages in {elapsed:.1f} s "
        f"({count / elapsed:,.0f} msg/s, {FILL_WORKERS} workers)"
    )
    return thread_id, ids


def check_page(client: OpenAI, thread_id: str, after: str | None = None) -> None:
    """Sanity check before timing: a first page is full and says there is more."""
    if after is None:
        page = client.beta.threads.messages.list(thread_id, limit=PAGE_LIMIT)
    else:
        page = client.beta.threads.messages.list(thread_id, limit=PAGE_LIMIT, after=after)
    if len(page.data) != PAGE_LIMIT or not page.has_more:
        raise RuntimeError(f"unexpected page: {len(page.data)} items, has_more={page.has_more}")


# --- the benchmark --------------------------------------------------------------------------


def bench_create(client: OpenAI, n: int, warmup: int) -> Stats:
    thread_id = new_thread(client)
    raw = client.beta.threads.messages.with_raw_response

    def call() -> RawResponse:
        return raw.create(thread_id, role="user", content="benchmark message: hello there")

    target = f"server p50 <= {CREATE_TARGET_MS:g} ms"
    return measure("message create", call, n, warmup, target)


def bench_list(client: OpenAI, name: str, thread_id: str, n: int, warmup: int) -> Stats:
    check_page(client, thread_id)
    raw = client.beta.threads.messages.with_raw_response

    def call() -> RawResponse:
        return raw.list(thread_id, limit=PAGE_LIMIT)

    return measure(name, call, n, warmup, f"server p50 <= {LIST_TARGET_MS:g} ms")


def bench_list_after(client: OpenAI, thread_id: str, after: str, n: int, warmup: int) -> Stats:
    check_page(client, thread_id, after)
    raw = client.beta.threads.messages.with_raw_response

    def call() -> RawResponse:
        return raw.list(thread_id, limit=PAGE_LIMIT, after=after)

    target = f"server p50 <= {LIST_TARGET_MS:g} ms"
    return measure("message list after=middle (big)", call, n, warmup, target)


def bench_retrieves(
    client: OpenAI, thread_id: str, message_id: str, n: int, warmup: int
) -> list[Stats]:
    messages = client.beta.threads.messages.with_raw_response
    threads = client.beta.threads.with_raw_response

    def message() -> RawResponse:
        return messages.retrieve(message_id, thread_id=thread_id)

    def thread() -> RawResponse:
        return threads.retrieve(thread_id)

    return [
        measure("message retrieve", message, n, warmup),
        measure("thread retrieve", thread, n, warmup),
    ]


def run(client: OpenAI, n: int, big: int, warmup: int) -> list[Stats]:
    results = [bench_create(client, n, warmup)]
    small_id, _ = fill_thread(client, SMALL_THREAD)
    big_id, big_ids = fill_thread(client, big)
    middle = big_ids[len(big_ids) // 2]
    results.append(bench_list(client, f"message list ({SMALL_THREAD:,} msgs)", small_id, n, warmup))
    results.append(bench_list(client, f"message list ({big:,} msgs)", big_id, n, warmup))
    results.append(bench_list_after(client, big_id, middle, n, warmup))
    results += bench_retrieves(client, big_id, middle, n, warmup)
    return results


# --- output ---------------------------------------------------------------------------------


def print_table(results: list[Stats]) -> None:
    width = max(len(r.name) for r in results)
    print(
        f"\n{'operation':<{width}}  {'n':>5}  {'server p50':>10}  {'p95':>7}  "
        f"{'client p50':>10}  {'p95':>7}  target (2 cores, SQLite)"
    )
    for r in results:
        row = (
            f"{r.name:<{width}}  {r.n:>5}  {r.server_p50:>10.3f}  {r.server_p95:>7.3f}  "
            f"{r.client_p50:>10.3f}  {r.client_p95:>7.3f}  {verdict(r)}"
        )
        print(row.rstrip())
    print("(all figures in ms)")


def verdict(stats: Stats) -> str:
    if not stats.target:
        return ""
    limit = float(stats.target.split("<=")[1].split()[0])
    return f"{stats.target}  [{'ok' if stats.server_p50 <= limit else 'MISSED'}]"


def print_ratio(small: Stats, big: Stats, big_count: int) -> None:
    print(
        f"list p50 ratio {big_count:,} / {SMALL_THREAD:,} messages: "
        f"server {big.server_p50 / small.server_p50:.2f}x, "
        f"client {big.client_p50 / small.client_p50:.2f}x  "
        "(target ~1x: independent of thread length)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=500, help="timed calls per operation")
    parser.add_argument("--big", type=int, default=10_000, help="messages in the big thread")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed calls first")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL (default SQLite)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: free)")
    args = parser.parse_args()
    if args.n < 1 or args.big < PAGE_LIMIT * 3:
        parser.error(f"--n must be >= 1 and --big >= {PAGE_LIMIT * 3}")
    return args


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = parse_args()
    port = args.port or free_port()
    database = args.database_url or "SQLite in a temporary data dir"
    print(
        f"assistantd messages bench: python {platform.python_version()}, "
        f"openai {openai.__version__}, {os.cpu_count()} cpus, database: {database}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="assistantd-bench-") as tmp,
        running_server(port, Path(tmp), args.database_url) as base_url,
    ):
        client = OpenAI(base_url=base_url, api_key="bench", max_retries=0)
        results = run(client, args.n, args.big, args.warmup)
        print_table(results)
        print_ratio(results[1], results[2], args.big)
        client.close()


if __name__ == "__main__":
    main()
