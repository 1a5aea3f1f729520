"""Many streamed runs in flight at once, against a model that thinks about a second before it
answers: do they all complete, how long after the model's own first token does each stream
show its first delta, and what does one streamed run in flight cost the server in memory.

Each stream is its own client thread (one shared connection pool). The model is
`bench/zero_upstream.py` with `wait-<ms>ms`; it records when each answer's first chunk left,
so the figure is the server's own delay: first delta at the client minus first chunk at the
model. Memory is the server's RSS at its peak while the streams are in flight minus its RSS
before they started, per stream.

    .venv/bin/python bench/streams_in_flight.py                  # 500 streams, 1 s model
    .venv/bin/python bench/streams_in_flight.py --streams 64      # the figure of issue #16
    .venv/bin/python bench/streams_in_flight.py --database-url postgresql+psycopg://u:pw@h/db
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from processes import free_port, percentile
from runs import running_server, running_upstream

HEADERS = {"Authorization": "Bearer x", "OpenAI-Beta": "assistants=v2"}


@dataclass
class Stream:
    marker: str
    thread_id: str
    started: float = 0.0
    first_delta: float | None = None
    ended: float | None = None
    last_event: str = ""


def follow(api: httpx.Client, assistant_id: str, stream: Stream, go: threading.Event) -> None:
    go.wait()
    stream.started = time.time()
    body = {"assistant_id": assistant_id, "stream": True}
    try:
        with api.stream("POST", f"/threads/{stream.thread_id}/runs", json=body) as response:
            for line in response.iter_lines():
                if not line.startswith("event: "):
                    continue
                stream.last_event = line[len("event: ") :]
                if stream.last_event == "thread.message.delta" and stream.first_delta is None:
                    stream.first_delta = time.time()
    except httpx.HTTPError as exc:
        stream.last_event = f"error: {exc!r}"
    stream.ended = time.time()


def sample_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--wait-ms", type=int, default=1000, help="the model's thinking time")
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL (default SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assistantd-streams-") as tmp:
        data_dir = Path(tmp)
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        with (
            running_upstream(upstream_port, data_dir),
            running_server(free_port(), data_dir, args.database_url, upstream_url, None) as server,
        ):
            limits = httpx.Limits(max_connections=args.streams + 8, max_keepalive_connections=64)
            with httpx.Client(
                base_url=server.base_url, headers=HEADERS, timeout=120, limits=limits
            ) as api:
                measure(api, server.pid, upstream_url, args)


def measure(api: httpx.Client, pid: int, upstream_url: str, args: argparse.Namespace) -> None:
    assistant_id = api.post("/assistants", json={"model": "gpt-4o"}).json()["id"]
    streams = []
    for i in range(args.streams):
        content = f"run-{i + 1} wait-{args.wait_ms}ms"
        thread = api.post("/threads", json={"messages": [{"role": "user", "content": content}]})
        streams.append(Stream(f"run-{i + 1}", thread.json()["id"]))
    httpx.post(upstream_url.removesuffix("/v1") + "/stats/reset")
    time.sleep(1.0)  # let start-up work settle before the idle figure
    idle_rss = psutil.Process(pid).memory_info().rss
    go, stop, peak = threading.Event(), threading.Event(), [idle_rss]
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak), daemon=True)
    workers = [
        threading.Thread(target=follow, args=(api, assistant_id, s, go), daemon=True)
        for s in streams
    ]
    for worker in workers:
        worker.start()
    sampler.start()
    server_cpu = sum(psutil.Process(pid).cpu_times()[:2])
    client_cpu = sum(psutil.Process().cpu_times()[:2])
    began = time.time()
    go.set()
    for worker in workers:
        worker.join()
    wall = time.time() - began
    server_cpu = sum(psutil.Process(pid).cpu_times()[:2]) - server_cpu
    client_cpu = sum(psutil.Process().cpu_times()[:2]) - client_cpu
    stop.set()
    sampler.join()
    model = httpx.get(upstream_url.removesuffix("/v1") + "/stats").json()["runs"]
    completed = [s for s in streams if s.last_event == "done" and s.first_delta is not None]
    behind = [
        (s.first_delta - model[s.marker][1]) * 1000
        for s in completed
        if s.first_delta is not None and s.marker in model
    ]
    first = [(s.first_delta - s.started) * 1000 for s in completed if s.first_delta is not None]
    reached = [(model[s.marker][0] - s.started) * 1000 for s in completed if s.marker in model]
    print(f"streams: {args.streams}, model first token after {args.wait_ms} ms")
    print(f"completed: {len(completed)} of {len(streams)} in {wall:.2f} s")
    print(f"runs/s: {len(completed) / wall:.1f}")
    print(
        f"CPU: server {server_cpu:.2f} s ({server_cpu / wall:.0%} of a core), "
        f"bench client {client_cpu:.2f} s ({client_cpu / wall:.0%}), of 2 cores"
    )
    if first:
        print(
            f"first delta after the request: p50 {percentile(first, 50):.0f} ms, "
            f"p99 {percentile(first, 99):.0f} ms"
        )
    if reached:
        print(
            "request reached the model after: "
            f"p50 {percentile(reached, 50):.0f} ms, p99 {percentile(reached, 99):.0f} ms"
        )
    if behind:
        print(
            "first delta after the model's first token: "
            f"p50 {percentile(behind, 50):.1f} ms, p99 {percentile(behind, 99):.1f} ms"
        )
    per_stream = (peak[0] - idle_rss) / max(1, args.streams)
    print(
        f"server RSS: idle {idle_rss / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB, "
        f"{per_stream / 1024:.0f} KiB per streamed run in flight"
    )
    failures = [s.last_event for s in streams if s not in completed]
    if failures:
        print(f"not completed: {failures[:5]}")


if __name__ == "__main__":
    main()
