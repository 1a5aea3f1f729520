"""Benchmark: server overhead per run (polled and streamed), first-delta latency and runs/s.

Starts a zero-latency model (`bench/zero_upstream.py`, its own process) and a real
`assistantd serve` process pointed at it (free ports, a temporary data dir; SQLite by default, or
`--database-url`), drives the server through the real `openai` SDK and prints p50/p95 figures and
runs/s beside the targets. Every run is one model turn that answers a fixed 5-chunk text.

Run from the repository root:

    .venv/bin/python bench/runs.py [--n 200] [--seconds 10] [--clients 1,8,32] [--database-url URL]

What is measured (all timestamps are `time.time()`, taken by the bench and by the upstream on the
same machine; the upstream records, per run, when the request's first bytes arrived, when it wrote
the first content chunk and when it finished writing the response; "upstream time" is finished -
arrived, well under a millisecond):

- Each run gets a fresh thread with one user message holding a marker `run-<n>` that the upstream
  uses to match its request to the run. Creating the thread is never part of a timed figure.
- Latency: `--n` runs of each kind one after another (one client), the kinds interleaved.
  polled: wall time of `runs.create_and_poll(poll_interval_ms=1)` minus upstream time (the helper
  GETs right after the create, then every millisecond, so at most 1 ms of the client's own
  sleeping is included). The same with `poll_interval_ms=--poll-ms` (5) is shown too, without a
  target: its helper GETs once while the run is still going and then sleeps a whole interval, so
  that figure is about create + GET + interval + GET whatever the server does. tight: polled by
  hand, POST then GET every 1 ms; split into the create POST and "create response -> completed
  seen". streamed: wall time of `runs.stream(...)` iterated
  to the end (what `until_done()` does) minus upstream time; split into "create sent -> upstream
  request arrived", "upstream finished -> `thread.run.completed` parsed" and the rest. raw: the
  same stream read as SSE lines with httpx, without the SDK's parsing.
- First-delta added latency: the upstream's first content chunk written -> the first
  `thread.message.delta` received (SDK-parsed, or as a raw line). Also with the upstream spacing
  its content chunks `--gap-ms` apart, as a model producing tokens does.
- The bench thread's CPU time within a run (`time.thread_time()`, the SDK's work) and the server's
  CPU time per run (`/proc/<pid>/stat`, summed over the timed runs of a kind).
- runs/s: N client threads (each with its own `OpenAI` client) do runs back to back for
  `--seconds`, each run on a thread from a pool created beforehand (untimed; if the pool runs dry
  threads are created in the loop and counted); runs/s = completed runs / time until the last run
  finished. Also HTTP requests per run, server CPU per run and the CPU use of each process over
  the level (100% = one core).

This is a benchmark, not a test: it never fails on a slow figure. The server gets only the
`ASSISTANTD_*` variables set here (upstream, poll hint, optional `--workers`), so runs compare.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import openai
from openai import OpenAI
from openai.types.beta.threads import Run

from processes import ServerProcess, free_port, percentile, serving, stop, tail, wait_ready

BENCH_DIR = Path(__file__).resolve().parent
WARMUP = 20
POLL_MS = 5
TIGHT_POLL_MS = 1
GAP_MS = 5.0
STREAM_CLIENTS = 8
MODEL = "gpt-4o"
ANSWER = "Hello from the zero upstream"  # what bench/zero_upstream.py answers
REQUEST_TIMEOUT_S = 60.0
POOL_RATE_GUESS = 400.0  # runs/s a level is assumed to reach at most, to size its thread pool
MIN_POOL_RATE = 250.0  # above the 8-client target, so that a server meeting it never runs dry
OVERHEAD_TARGET_MS = 10.0
FIRST_DELTA_TARGET_MS = 2.0
THROUGHPUT_TARGET = 150.0
THROUGHPUT_TARGET_CLIENTS = 8
TERMINAL = frozenset(
    {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
)
RUN_ENDS = frozenset(f"thread.run.{status}" for status in TERMINAL)

_markers = itertools.count(1)


# --- processes ------------------------------------------------------------------------------


@contextmanager
def child(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    log_path: Path,
    ready_url: str,
    graceful_line: str,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a process, wait until `ready_url` answers 200, and always stop it."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(name, process, ready_url)
        yield process
    except Exception:
        print(f"{name} log tail:\n{tail(log_path)}", file=sys.stderr)
        raise
    finally:
        stop(name, process, log_path, graceful_line)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}


@contextmanager
def running_upstream(port: int, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, str(BENCH_DIR / "zero_upstream.py"), "--port", str(port)]
    with child(
        "upstream",
        cmd,
        clean_env(),
        data_dir / "upstream.log",
        f"http://127.0.0.1:{port}/stats",
        "zero upstream stopped",
    ) as process:
        yield process


@contextmanager
def running_server(
    port: int,
    data_dir: Path,
    database_url: str | None,
    upstream_url: str,
    workers: int | None,
    poll_ms: int = POLL_MS,
    source: Path | None = None,
    name: str = "server",
) -> Iterator[ServerProcess]:
    """The server pointed at the zero upstream; `source`: run that checkout's package instead of
    the installed one (see `ServerProcess`)."""
    env = {
        "ASSISTANTD_UPSTREAM_BASE_URL": upstream_url,
        "ASSISTANTD_UPSTREAM_API_KEY": "x",
        "ASSISTANTD_POLL_AFTER_MS": str(poll_ms),  # a hint only: the bench passes its own
    }
    if workers is not None:
        env["ASSISTANTD_WORKERS"] = str(workers)
    server = ServerProcess(data_dir, database_url=database_url, env=env, port=port, source=source)
    # uvicorn re-raises the signal after its graceful shutdown, hence exit code -15
    with serving(server, name) as started:
        yield started


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of another process (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state) of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# --- the upstream's records -----------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamTimes:
    arrived: float
    first: float
    finished: float

    @property
    def duration(self) -> float:
        return self.finished - self.arrived


class Upstream:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> tuple[int, dict[str, UpstreamTimes]]:
        """(chat completion requests so far, timings per run marker)."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10.0) as resp:
            body = json.loads(resp.read())
        runs = {marker: UpstreamTimes(*times) for marker, times in body["runs"].items()}
        return int(body["requests"]), runs

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/stats/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10.0):
            pass


# --- statistics and output ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One latency figure over runs, in milliseconds; `target` is a p50 limit."""

    name: str
    values: list[float]
    target: float | None = None

    @property
    def p50(self) -> float:
        return percentile(self.values, 50)

    @property
    def p95(self) -> float:
        return percentile(self.values, 95)

    def verdict(self) -> str:
        if self.target is None:
            return ""
        ok = self.p50 <= self.target
        return f"p50 <= {self.target:g} ms  [{'ok' if ok else 'MISSED'}]"


def print_rows(title: str, rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    print(f"\n{title:<{width}}  {'n':>4}  {'p50':>7}  {'p95':>7}  target")
    for r in rows:
        line = f"{r.name:<{width}}  {len(r.values):>4}  {r.p50:>7.2f}  {r.p95:>7.2f}  {r.verdict()}"
        print(line.rstrip())


@dataclass
class Failures:
    """Runs that did not complete, or whose upstream request was not found."""

    count: int = 0
    first: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self.lock:
            self.count += 1
            self.first = self.first or what

    def report(self, phase: str) -> None:
        if self.count:
            print(f"!! {phase}: {self.count} runs failed or unmatched; first: {self.first}")


# --- one run --------------------------------------------------------------------------------


def new_client(base_url: str, requests: list[int] | None = None) -> OpenAI:
    """A client; with `requests`, `requests[0]` counts the HTTP requests it sends."""
    http_client = None
    if requests is not None:

        def count(_request: object) -> None:
            requests[0] += 1

        http_client = openai.DefaultHttpxClient(event_hooks={"request": [count]})
    return OpenAI(
        base_url=base_url,
        api_key="bench",
        max_retries=0,
        timeout=REQUEST_TIMEOUT_S,
        http_client=http_client,
    )


def new_thread(client: OpenAI, note: str = "") -> tuple[str, str]:
    """A thread with one user message carrying a fresh marker: (thread id, marker).

    `note` goes into the message too (the upstream reads `gap-<ms>ms` from it).
    """
    marker = f"run-{next(_markers)}"
    content = f"benchmark {marker}{note}: please say hello"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": content}])
    return thread.id, marker


@dataclass(frozen=True)
class Sample:
    """One run as the bench saw it: `time.time()` stamps, NaN where a kind has no such moment."""

    marker: str
    status: str
    sent: float  # just before the create request
    done: float  # the run seen terminal (polled) or the stream closed (streamed)
    client_cpu: float  # CPU seconds the bench thread spent meanwhile (SDK / HTTP work)
    created: float = math.nan  # tight loop: the create response received
    gets: int = 0  # tight loop: GETs until terminal
    first_delta: float = math.nan  # streamed: first `thread.message.delta` received
    run_ended: float = math.nan  # streamed: `thread.run.<terminal>` received


RunFn = Callable[[OpenAI, str, str, str], Sample]


def polled_run(
    client: OpenAI, assistant_id: str, thread_id: str, marker: str, poll_ms: int = POLL_MS
) -> Sample:
    """`create_and_poll`: POST, GET at once, then GET every `poll_ms` until terminal."""
    cpu = time.thread_time()
    sent = time.time()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=poll_ms
    )
    return Sample(marker, run.status, sent, time.time(), time.thread_time() - cpu)


def tight_run(client: OpenAI, assistant_id: str, thread_id: str, marker: str) -> Sample:
    """POST, then GET every TIGHT_POLL_MS until terminal."""
    runs = client.beta.threads.runs
    cpu = time.thread_time()
    sent = time.time()
    run = runs.create(thread_id=thread_id, assistant_id=assistant_id)
    created = time.time()
    gets = 0
    while run.status not in TERMINAL:
        time.sleep(TIGHT_POLL_MS / 1000)
        run = runs.retrieve(run.id, thread_id=thread_id)
        gets += 1
    done = time.time()
    return Sample(
        marker, run.status, sent, done, time.thread_time() - cpu, created=created, gets=gets
    )


def streamed_run(client: OpenAI, assistant_id: str, thread_id: str, marker: str) -> Sample:
    """`runs.stream(...)`, every event iterated (what `until_done()` does)."""
    first_delta = run_ended = math.nan
    status = "no terminal event"
    cpu = time.thread_time()
    sent = time.time()
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                if math.isnan(first_delta):
                    first_delta = time.time()
            elif event.event in RUN_ENDS and isinstance(event.data, Run):
                run_ended = time.time()
                status = event.data.status
    done = time.time()
    cpu = time.thread_time() - cpu
    return Sample(marker, status, sent, done, cpu, first_delta=first_delta, run_ended=run_ended)


class RawStreamer:
    """A streamed run read as raw SSE lines with httpx: no SDK parsing in its figures.

    Called like the other run functions (it ignores the SDK client).
    """

    def __init__(self, base_url: str) -> None:
        headers = {"authorization": "Bearer bench", "openai-beta": "assistants=v2"}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S)

    def close(self) -> None:
        self.http.close()

    def __call__(self, _client: OpenAI, assistant_id: str, thread_id: str, marker: str) -> Sample:
        first_delta = run_ended = math.nan
        status = "no terminal event"
        body = {"assistant_id": assistant_id, "stream": True}
        cpu = time.thread_time()
        sent = time.time()
        with self.http.stream("POST", f"threads/{thread_id}/runs", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("event: "):
                    continue
                event = line[len("event: ") :]
                if event == "thread.message.delta":
                    if math.isnan(first_delta):
                        first_delta = time.time()
                elif event in RUN_ENDS:
                    run_ended = time.time()
                    status = event.rpartition(".")[2]
        done = time.time()
        cpu = time.thread_time() - cpu
        return Sample(marker, status, sent, done, cpu, first_delta=first_delta, run_ended=run_ended)


# --- latency --------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000


@dataclass(frozen=True)
class Kind:
    """A way of doing a run; `note` goes into the user message (for the upstream)."""

    name: str
    run: RunFn
    note: str = ""


# The run kinds with an overhead target, one client at a time (`bench/compare_runs.py` too).
POLLED = Kind("polled", partial(polled_run, poll_ms=TIGHT_POLL_MS))
STREAMED = Kind("streamed", streamed_run)


@dataclass
class Series:
    """The timed runs of one kind, matched with their upstream requests."""

    pairs: list[tuple[Sample, UpstreamTimes]] = field(default_factory=list)
    server_cpu: float | None = 0.0  # server CPU seconds over the timed runs (None: unknown)
    runs: int = 0

    def values(self, figure: Callable[[Sample, UpstreamTimes], float]) -> list[float]:
        return [figure(sample, times) for sample, times in self.pairs]

    def server_ms_per_run(self) -> str:
        if self.server_cpu is None or not self.runs:
            return "?"
        return f"{ms(self.server_cpu / self.runs):.1f}"


def sequential(
    client: OpenAI,
    assistant_id: str,
    kinds: list[Kind],
    n: int,
    warmup: int,
    upstream: Upstream,
    server_pid: int,
) -> dict[str, Series]:
    """Runs one after another, the kinds interleaved (so that drift on the machine spreads
    evenly over them): `warmup` untimed rounds, then `n` timed ones; each run on a fresh thread
    created beforehand (untimed)."""
    series = {kind.name: Series() for kind in kinds}
    samples: dict[str, list[Sample]] = {kind.name: [] for kind in kinds}
    for i in range(warmup + n):
        for kind in kinds:
            thread_id, marker = new_thread(client, kind.note)
            before = cpu_seconds(server_pid)
            sample = kind.run(client, assistant_id, thread_id, marker)
            after = cpu_seconds(server_pid)
            if i < warmup:
                continue
            samples[kind.name].append(sample)
            one = series[kind.name]
            one.runs += 1
            if one.server_cpu is not None and before is not None and after is not None:
                one.server_cpu += after - before
            else:
                one.server_cpu = None
    _, records = upstream.stats()
    failures = Failures()
    for name, done in samples.items():
        for sample in done:
            times = records.get(sample.marker)
            if sample.status != "completed":
                failures.add(f"{name} {sample.marker} ended {sample.status}")
            elif times is None:
                failures.add(f"{name} {sample.marker}: no upstream request recorded")
            else:
                series[name].pairs.append((sample, times))
    failures.report("latency")
    return series


def wall_minus_upstream(s: Sample, u: UpstreamTimes) -> float:
    return ms(s.done - s.sent - u.duration)


def first_delta_latency(s: Sample, u: UpstreamTimes) -> float:
    return ms(s.first_delta - u.first)


def client_cpu(s: Sample, _u: UpstreamTimes) -> float:
    return ms(s.client_cpu)


def bench_latency(
    client: OpenAI, assistant_id: str, upstream: Upstream, server_pid: int, args: argparse.Namespace
) -> tuple[list[Row], str]:
    """The latency rows, and a line with the server's CPU time per run of each kind."""
    raw_streamer = RawStreamer(str(client.base_url))
    kinds = [
        POLLED,
        Kind("polled_slow", partial(polled_run, poll_ms=args.poll_ms)),
        Kind("tight", tight_run),
        STREAMED,
        Kind("raw", raw_streamer),
    ]
    if args.gap_ms:
        kinds.append(Kind("spaced", raw_streamer, f" gap-{args.gap_ms:g}ms"))
    try:
        series = sequential(client, assistant_id, kinds, args.n, args.warmup, upstream, server_pid)
    finally:
        raw_streamer.close()
    polled, slow, tight, streamed, raw = (
        series[k] for k in ("polled", "polled_slow", "tight", "streamed", "raw")
    )
    rows = [
        Row(
            f"polled: overhead = create_and_poll wall - upstream (poll {TIGHT_POLL_MS} ms)",
            polled.values(wall_minus_upstream),
            OVERHEAD_TARGET_MS,
        ),
        Row("  bench client CPU within it (SDK work)", polled.values(client_cpu)),
        # Not a server figure: the helper GETs at once (the run is still going), then sleeps a
        # whole interval, so this is about create + GET + interval + GET whatever the server.
        Row(
            f"  the same, poll {args.poll_ms} ms (includes up to {args.poll_ms} ms of the "
            "helper's sleep)",
            slow.values(wall_minus_upstream),
        ),
        Row(
            f"polled: overhead, by hand (POST, then GET every {TIGHT_POLL_MS} ms)",
            tight.values(wall_minus_upstream),
            OVERHEAD_TARGET_MS,
        ),
        Row("  of which: run create POST", tight.values(lambda s, _u: ms(s.created - s.sent))),
        Row(
            "  of which: create response -> completed seen - upstream",
            tight.values(lambda s, u: ms(s.done - s.created - u.duration)),
        ),
        Row(
            "streamed (SDK runs.stream): overhead = wall - upstream",
            streamed.values(wall_minus_upstream),
            OVERHEAD_TARGET_MS,
        ),
        Row(
            "  of which: create sent -> upstream request arrived",
            streamed.values(lambda s, u: ms(u.arrived - s.sent)),
        ),
        Row(
            "  of which: upstream finished -> thread.run.completed parsed",
            streamed.values(lambda s, u: ms(s.run_ended - u.finished)),
        ),
        Row(
            "  of which: thread.run.completed -> stream closed",
            streamed.values(lambda s, _u: ms(s.done - s.run_ended)),
        ),
        Row("  bench client CPU within it (SDK work)", streamed.values(client_cpu)),
        Row(
            "  first-delta added latency (upstream 1st chunk -> 1st delta parsed)",
            streamed.values(first_delta_latency),
            FIRST_DELTA_TARGET_MS,
        ),
        Row(
            "streamed (raw SSE lines, httpx): overhead = wall - upstream",
            raw.values(wall_minus_upstream),
            OVERHEAD_TARGET_MS,
        ),
        Row(
            "  first-delta added latency (upstream 1st chunk -> 1st delta line)",
            raw.values(first_delta_latency),
            FIRST_DELTA_TARGET_MS,
        ),
    ]
    if "spaced" in series:
        rows.append(
            Row(
                f"  the same, upstream chunks {args.gap_ms:g} ms apart",
                series["spaced"].values(first_delta_latency),
                FIRST_DELTA_TARGET_MS,
            )
        )
    zero_latency = [u for one in (polled, slow, tight, streamed, raw) for _, u in one.pairs]
    rows += [
        Row(
            "upstream time itself (request arrived -> response written)",
            [ms(u.duration) for u in zero_latency],
        ),
        Row(
            "GETs per run in the hand loop (a count, not ms)",
            tight.values(lambda s, _u: float(s.gets)),
        ),
    ]
    cpu = ", ".join(f"{name} {one.server_ms_per_run()}" for name, one in series.items())
    return rows, f"server CPU per run (ms, from /proc/<pid>/stat): {cpu}"


# --- throughput -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    mode: str
    clients: int
    runs: int
    failed: int
    inline_threads: int
    elapsed: float
    latencies: list[float]
    cpu_seconds: dict[str, float | None]  # per process over the level
    http_requests: int  # sent by the clients
    upstream_requests: int

    @property
    def rate(self) -> float:
        return self.runs / self.elapsed

    def cpu_percent(self, name: str) -> str:
        value = self.cpu_seconds.get(name)
        return "?" if value is None else f"{value / self.elapsed * 100:.0f}"

    def server_ms_per_run(self) -> str:
        value = self.cpu_seconds.get("server")
        return "?" if value is None or not self.runs else f"{ms(value / self.runs):.1f}"

    def verdict(self) -> str:
        if self.mode != "polled" or self.clients != THROUGHPUT_TARGET_CLIENTS:
            return ""
        ok = self.rate >= THROUGHPUT_TARGET
        return f">= {THROUGHPUT_TARGET:g} runs/s  [{'ok' if ok else 'MISSED'}]"


def thread_pool(base_url: str, count: int) -> queue.SimpleQueue[tuple[str, str]]:
    """`count` fresh threads, created by 8 concurrent workers."""
    pool: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
    per_worker = [count // 8 + (1 if i < count % 8 else 0) for i in range(8)]

    def fill(k: int) -> None:
        client = new_client(base_url)
        for _ in range(k):
            pool.put(new_thread(client))
        client.close()

    workers = [threading.Thread(target=fill, args=(k,)) for k in per_worker]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return pool


def bench_level(
    base_url: str | Sequence[str],
    assistant_id: str,
    upstream: Upstream,
    pids: dict[str, int],
    mode: str,
    clients: int,
    seconds: float,
    pool_size: int,
    poll_ms: int,
) -> Level:
    """`clients` threads doing runs back to back for `seconds`. Several base URLs (servers on
    one database): the clients take them in turn."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    run: RunFn = partial(polled_run, poll_ms=poll_ms) if mode == "polled" else streamed_run
    filling = time.time()
    pool = thread_pool(urls[0], pool_size)
    print(f"  {pool_size} threads created beforehand in {time.time() - filling:.1f} s", flush=True)
    upstream.reset()
    start = threading.Barrier(clients + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    counters = [[0] for _ in range(clients)]
    failures = Failures()
    inline = 0
    deadline = 0.0

    def client_loop(requests: list[int], url: str) -> None:
        nonlocal inline
        client = new_client(url, requests)
        start.wait()
        while time.time() < deadline:
            try:
                thread_id, marker = pool.get_nowait()
            except queue.Empty:
                with lock:
                    inline += 1
                thread_id, marker = new_thread(client)
            try:
                sample = run(client, assistant_id, thread_id, marker)
            except openai.OpenAIError as exc:
                failures.add(repr(exc))
                continue
            if sample.status != "completed":
                failures.add(f"{marker} ended {sample.status}")
                continue
            with lock:
                latencies.append(ms(sample.done - sample.sent))
        client.close()

    workers = [
        threading.Thread(target=client_loop, args=(c, urls[i % len(urls)]))
        for i, c in enumerate(counters)
    ]
    for worker in workers:
        worker.start()
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own_before = own_cpu_seconds()
    began = time.time()
    deadline = began + seconds
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.time() - began
    cpu: dict[str, float | None] = {}
    for name, pid in pids.items():
        before, after = cpu_before[name], cpu_seconds(pid)
        cpu[name] = None if before is None or after is None else after - before
    cpu["bench"] = own_cpu_seconds() - own_before
    upstream_requests, _ = upstream.stats()
    failures.report(f"{mode} x{clients}")
    return Level(
        mode=mode,
        clients=clients,
        runs=len(latencies),
        failed=failures.count,
        inline_threads=inline,
        elapsed=elapsed,
        latencies=latencies,
        cpu_seconds=cpu,
        http_requests=sum(c[0] for c in counters),
        upstream_requests=upstream_requests,
    )


def print_levels(levels: list[Level], poll_ms: int) -> None:
    print(
        f"\nthroughput (polled: create_and_poll, poll {poll_ms} ms; streamed: runs.stream; "
        "threads made beforehand)"
        f"\n{'runs':<8}  {'clients':>7}  {'runs':>5}  {'failed':>6}  {'runs/s':>6}  "
        f"{'p50 ms':>6}  {'p95 ms':>6}  {'req/run':>7}  {'srv cpu ms/run':>14}  "
        f"{'cpu% srv/up/bench':>17}  target"
    )
    for lv in levels:
        cpu = "/".join(lv.cpu_percent(name) for name in ("server", "upstream", "bench"))
        requests = lv.http_requests / max(lv.runs + lv.failed, 1)
        line = (
            f"{lv.mode:<8}  {lv.clients:>7}  {lv.runs:>5}  {lv.failed:>6}  {lv.rate:>6.1f}  "
            f"{percentile(lv.latencies, 50):>6.1f}  {percentile(lv.latencies, 95):>6.1f}  "
            f"{requests:>7.1f}  {lv.server_ms_per_run():>14}  {cpu:>17}  {lv.verdict()}"
        )
        print(line.rstrip())
    for lv in levels:
        notes = []
        if lv.inline_threads:
            notes.append(f"{lv.inline_threads} threads created inside the timed loop")
        if lv.upstream_requests != lv.runs + lv.failed:
            notes.append(
                f"upstream saw {lv.upstream_requests} requests for {lv.runs + lv.failed} runs"
            )
        if notes:
            print(f"  {lv.mode} x{lv.clients}: " + "; ".join(notes))


# --- main -----------------------------------------------------------------------------------


def check_answer(client: OpenAI, assistant_id: str) -> None:
    """Sanity check before timing: a run completes with the upstream's text."""
    thread_id, marker = new_thread(client)
    run = polled_run(client, assistant_id, thread_id, marker)
    if run.status != "completed":
        raise RuntimeError(f"sanity run ended {run.status}")
    page = client.beta.threads.messages.list(thread_id, order="desc", limit=1)
    texts = [part.text.value for part in page.data[0].content if part.type == "text"]
    if texts != [ANSWER]:
        raise RuntimeError(f"sanity run answered {texts!r}, expected {[ANSWER]!r}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200, help="timed runs of each latency kind")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed runs of each first")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput level")
    parser.add_argument("--clients", default="1,8,32", help="throughput levels (polled runs)")
    parser.add_argument(
        "--stream-clients",
        type=int,
        default=STREAM_CLIENTS,
        help="clients of the streamed throughput level (0: skip it)",
    )
    parser.add_argument(
        "--poll-ms", type=int, default=POLL_MS, help="poll_interval_ms of create_and_poll"
    )
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=GAP_MS,
        help="also time raw streams whose upstream spaces its chunks this far apart (0: skip)",
    )
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL (default SQLite)")
    parser.add_argument("--workers", type=int, default=None, help="ASSISTANTD_WORKERS (1000)")
    parser.add_argument("--port", type=int, default=None, help="server port (default: free)")
    args = parser.parse_args()
    try:
        args.client_levels = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error("--clients must be comma-separated integers")
    positive = min([args.n, args.seconds, args.poll_ms, *args.client_levels]) > 0
    if not positive or args.warmup < 0 or args.gap_ms < 0 or args.stream_clients < 0:
        parser.error("--n, --seconds, --poll-ms and --clients must be positive")
    return args


def pool_size(levels: list[Level], seconds: float, clients: int) -> int:
    """Threads for a level: enough for POOL_RATE_GUESS runs/s at first, then for twice the
    best rate so far (at least MIN_POOL_RATE); a pool that runs dry is topped up inline."""
    rate = POOL_RATE_GUESS
    if levels:
        rate = min(rate, max(2 * max(lv.rate for lv in levels), MIN_POOL_RATE))
    return math.ceil(rate * seconds) + clients


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = parse_args()
    port = args.port or free_port()
    upstream_port = free_port()
    database = args.database_url or "SQLite in a temporary data dir"
    workers = f"{args.workers}" if args.workers else "1000 (server default)"
    print(
        f"assistantd runs bench: python {platform.python_version()}, "
        f"openai {openai.__version__}, {os.cpu_count()} cpus, database: {database}\n"
        f"zero-latency upstream in its own process; model {MODEL!r}; workers {workers}; "
        f"poll interval {TIGHT_POLL_MS} ms (latency; also {args.poll_ms} ms), "
        f"{args.poll_ms} ms (throughput)\n"
        f"latency: {args.n} runs of each kind after {args.warmup} warm-up runs, one client, "
        f"kinds interleaved; throughput: {args.seconds:g} s per level, "
        f"clients {args.clients} polled"
        + (f", {args.stream_clients} streamed" if args.stream_clients else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="assistantd-bench-") as tmp:
        data_dir = Path(tmp)
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        with (
            running_upstream(upstream_port, data_dir) as upstream_process,
            running_server(
                port, data_dir, args.database_url, upstream_url, args.workers, args.poll_ms
            ) as server,
        ):
            print(f"server pid {server.pid}, upstream pid {upstream_process.pid}", flush=True)
            base_url = f"http://127.0.0.1:{port}/v1"
            upstream = Upstream(upstream_port)
            client = new_client(base_url)
            assistant = client.beta.assistants.create(model=MODEL, instructions="Be brief.")
            check_answer(client, assistant.id)
            rows, cpu_line = bench_latency(client, assistant.id, upstream, server.pid, args)
            client.close()
            print_rows(f"latency, one client (ms; n runs after {args.warmup} warm-up)", rows)
            print(cpu_line, flush=True)
            pids = {"server": server.pid, "upstream": upstream_process.pid}
            plan = [("polled", c) for c in args.client_levels]
            if args.stream_clients:
                plan.append(("streamed", args.stream_clients))
            levels: list[Level] = []
            for mode, clients in plan:
                print(f"throughput: {mode} runs, {clients} clients ...", flush=True)
                size = pool_size(levels, args.seconds, clients)
                level = bench_level(
                    base_url,
                    assistant.id,
                    upstream,
                    pids,
                    mode,
                    clients,
                    args.seconds,
                    size,
                    args.poll_ms,
                )
                levels.append(level)
            print_levels(levels, args.poll_ms)
            print(
                "reference: best open-source peer measured here ~126 ms per streamed run, "
                "6-14 runs/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
