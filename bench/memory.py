"""Memory soak: a varied request mix against a real server, its RSS printed every 1,000 requests.

Starts `assistantd serve` (free port, temporary data dir, no model: runs are not part of the
mix) and sends `--requests` requests cycling through creates, lists, metadata-filtered lists with
random keys, bad bodies, 404s on random ids and random paths, a new bearer token per request,
deletes and, every `--search-every` requests, a vector-store search with a random attribute
filter. After each 1,000 requests it prints the server's VmRSS (from /proc/<pid>/status) and the
growth since the first sample; a bounded cache stops growing once full, a leak does not.

    .venv/bin/python bench/memory.py                     # 20,000 requests, SQLite
    .venv/bin/python bench/memory.py --requests 5000 --database-url postgresql://u@h/db
    .venv/bin/python bench/memory.py --requests 4000 --tracemalloc   # what grew, by traceback

Runs go to a zero-latency upstream (`zero_upstream.py`, its own process). With `--tracemalloc`
the server runs under tracemalloc (several times slower) and the Python allocations that grew
between the `--warmup`th sample and the last are listed.

What it showed (2 cores, SQLite): RSS goes from ~254 MB to ~619 MB within the first 1,000
requests and then stays flat (+3.4 MB over the next 11,000, slowing down). That step is the
local embedding model loaded lazily, twice: the documents' session (~200 MB, when the mix's first
vector store is created) and the query session (~170 MB, on the first search). The Python heap
is ~30 MB and flat. The only per-request growth was the bearer-token cache (~0.5 KB per distinct
token, up to 10,000 tokens, then dropped all at once); it now holds only the answers of the last
`auth_cache_seconds`. Creating an assistant or thread without files used to load the model too.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from processes import ServerProcess, free_port, serving, stop, wait_ready

BENCH_DIR = Path(__file__).resolve().parent

Step = Callable[[httpx.Client, random.Random], int]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


def word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=n))


class Mix:
    """The request kinds, each a function returning the status code; ids made along the way
    are kept (bounded) so later requests read, update and delete real objects."""

    def __init__(self) -> None:
        self.assistants: list[str] = []
        self.threads: list[str] = []
        self.stores: list[str] = []

    def steps(self) -> list[Step]:
        return [
            self.create_assistant,
            self.list_assistants,
            self.create_thread,
            self.add_message,
            self.list_messages,
            self.filtered_threads,
            self.bad_body,
            self.bad_json,
            self.missing_object,
            self.random_path,
            self.update_assistant,
            self.delete_thread,
            self.run,
            self.stream_run,
            self.upload_file,
            self.store_churn,
        ]

    def create_assistant(self, http: httpx.Client, rng: random.Random) -> int:
        body = {"model": "gpt-4o", "name": word(rng), "metadata": {word(rng, 4): word(rng)}}
        resp = http.post("/assistants", json=body)
        if resp.status_code == 200:
            self._keep(self.assistants, resp.json()["id"])
        return resp.status_code

    def list_assistants(self, http: httpx.Client, rng: random.Random) -> int:
        params = {"limit": rng.randint(1, 100), "order": rng.choice(["asc", "desc"])}
        return http.get("/assistants", params=params).status_code

    def create_thread(self, http: httpx.Client, rng: random.Random) -> int:
        body = {
            "messages": [{"role": "user", "content": word(rng, 40)}],
            "metadata": {word(rng, 3): word(rng, 3) for _ in range(rng.randint(0, 4))},
        }
        resp = http.post("/threads", json=body)
        if resp.status_code == 200:
            self._keep(self.threads, resp.json()["id"])
        return resp.status_code

    def add_message(self, http: httpx.Client, rng: random.Random) -> int:
        if not self.threads:
            return self.create_thread(http, rng)
        thread = rng.choice(self.threads)
        body = {"role": "user", "content": word(rng, 60), "metadata": {"k": word(rng)}}
        return http.post(f"/threads/{thread}/messages", json=body).status_code

    def list_messages(self, http: httpx.Client, rng: random.Random) -> int:
        if not self.threads:
            return self.create_thread(http, rng)
        thread = rng.choice(self.threads)
        return http.get(f"/threads/{thread}/messages", params={"limit": 5}).status_code

    def filtered_threads(self, http: httpx.Client, rng: random.Random) -> int:
        # A new set of metadata keys each time: the statement differs per key set.
        params = {f"metadata[{word(rng, 5)}]": word(rng, 3) for _ in range(rng.randint(1, 8))}
        return http.get("/threads", params=params).status_code

    def bad_body(self, http: httpx.Client, rng: random.Random) -> int:
        body: dict[str, Any] = rng.choice(
            [
                {"model": "gpt-4o", word(rng): 1},
                {"model": 12},
                {"model": "gpt-4o", "tools": [{"type": word(rng)}]},
                {"model": "gpt-4o", "temperature": "hot"},
            ]
        )
        return http.post("/assistants", json=body).status_code

    def bad_json(self, http: httpx.Client, rng: random.Random) -> int:
        content = b'{"model": "gpt-4o", "name": "' + word(rng).encode()
        headers = {"content-type": "application/json"}
        return http.post("/threads", content=content, headers=headers).status_code

    def missing_object(self, http: httpx.Client, rng: random.Random) -> int:
        path = rng.choice(
            [
                f"/assistants/asst_{secrets.token_hex(12)}",
                f"/threads/thread_{secrets.token_hex(12)}",
                f"/threads/thread_{secrets.token_hex(12)}/messages",
                f"/threads/thread_{secrets.token_hex(12)}/runs/run_{secrets.token_hex(12)}",
                f"/vector_stores/vs_{secrets.token_hex(12)}",
                f"/files/file-{secrets.token_hex(12)}",
            ]
        )
        return http.get(path).status_code

    def random_path(self, http: httpx.Client, rng: random.Random) -> int:
        path = "/" + "/".join(word(rng, rng.randint(3, 12)) for _ in range(rng.randint(1, 4)))
        return http.request(rng.choice(["GET", "POST", "DELETE"]), path).status_code

    def update_assistant(self, http: httpx.Client, rng: random.Random) -> int:
        if not self.assistants:
            return self.create_assistant(http, rng)
        assistant = rng.choice(self.assistants)
        return http.post(f"/assistants/{assistant}", json={"name": word(rng)}).status_code

    def delete_thread(self, http: httpx.Client, rng: random.Random) -> int:
        if not self.threads:
            return self.create_thread(http, rng)
        thread = self.threads.pop(rng.randrange(len(self.threads)))
        return http.delete(f"/threads/{thread}").status_code

    def _assistant(self, http: httpx.Client, rng: random.Random) -> str:
        if not self.assistants:
            self.create_assistant(http, rng)
        return rng.choice(self.assistants)

    def run(self, http: httpx.Client, rng: random.Random) -> int:
        body = {
            "assistant_id": self._assistant(http, rng),
            "thread": {"messages": [{"role": "user", "content": word(rng, 20)}]},
        }
        resp = http.post("/threads/runs", json=body)
        if resp.status_code != 200:
            return resp.status_code
        run = resp.json()
        while run["status"] in ("queued", "in_progress"):
            time.sleep(0.005)
            run = http.get(f"/threads/{run['thread_id']}/runs/{run['id']}").json()
        return resp.status_code

    def stream_run(self, http: httpx.Client, rng: random.Random) -> int:
        body = {
            "assistant_id": self._assistant(http, rng),
            "thread": {"messages": [{"role": "user", "content": word(rng, 20)}]},
            "stream": True,
        }
        with http.stream("POST", "/threads/runs", json=body) as resp:
            for _ in resp.iter_lines():
                pass
            return resp.status_code

    def upload_file(self, http: httpx.Client, rng: random.Random) -> int:
        files = {"file": (word(rng) + ".txt", word(rng, 200).encode(), "text/plain")}
        resp = http.post("/files", data={"purpose": "assistants"}, files=files)
        if resp.status_code == 200:
            http.delete(f"/files/{resp.json()['id']}")
        return resp.status_code

    def store_churn(self, http: httpx.Client, rng: random.Random) -> int:
        # A store created, searched once (so the server builds its index) and deleted.
        resp = http.post("/vector_stores", json={"name": word(rng)})
        if resp.status_code != 200:
            return resp.status_code
        store = resp.json()["id"]
        http.post(f"/vector_stores/{store}/search", json={"query": word(rng)})
        return http.delete(f"/vector_stores/{store}").status_code

    def search(self, http: httpx.Client, rng: random.Random) -> int:
        if not self.stores:
            resp = http.post("/vector_stores", json={"name": "soak"})
            self.stores.append(resp.json()["id"])
        body = {
            "query": word(rng, 6),
            "filters": {"type": "eq", "key": word(rng, 5), "value": word(rng, 3)},
        }
        return http.post(f"/vector_stores/{self.stores[0]}/search", json=body).status_code

    @staticmethod
    def _keep(ids: list[str], new: str, limit: int = 200) -> None:
        ids.append(new)
        if len(ids) > limit:
            del ids[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=1_000, help="requests between samples")
    parser.add_argument("--search-every", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the server with tracemalloc and show what grew after the warm-up samples",
    )
    parser.add_argument("--warmup", type=int, default=2, help="samples before the first snapshot")
    if len(sys.argv) > 2 and sys.argv[1] == "--traced-server":
        traced_server(Path(sys.argv[2]), sys.argv[3:])
        return
    args = parser.parse_args()

    port, upstream_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="assistantd-memory-") as tmp:
        data_dir = Path(tmp)
        upstream_log = data_dir / "upstream.log"
        cmd = [sys.executable, str(BENCH_DIR / "zero_upstream.py"), "--port", str(upstream_port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
        with upstream_log.open("ab") as log:
            upstream = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready("upstream", upstream, f"http://127.0.0.1:{upstream_port}/stats")
            server_env = {
                "ASSISTANTD_UPSTREAM_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
                "ASSISTANTD_UPSTREAM_API_KEY": "sk-zero",
            }
            serve(port, data_dir, server_env, args)
        finally:
            stop("upstream", upstream, upstream_log, "zero upstream stopped")


class TracedServer(ServerProcess):
    """The server under tracemalloc (`--traced-server`): SIGUSR1 writes a snapshot."""

    def command(self, *args: str) -> list[str]:
        python, _m, _assistantd, *rest = super().command(*args)
        traced = [str(BENCH_DIR / "memory.py"), "--traced-server", str(self.data_dir)]
        return [python, *traced, *rest]


def serve(port: int, data_dir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    # Investigation only: a traced server records allocations and writes a snapshot on SIGUSR1.
    kind = TracedServer if args.tracemalloc else ServerProcess
    server = kind(data_dir, database_url=args.database_url, env=env, port=port)
    with serving(server):
        run(server.pid, server.base_url, args, data_dir)


def traced_server(data_dir: Path, argv: list[str]) -> None:
    """`assistantd` with tracemalloc on; SIGUSR1 writes `<data_dir>/trace-<n>.snapshot`."""
    import itertools
    import signal
    import tracemalloc

    from assistantd.cli import main as assistantd_main

    tracemalloc.start(12)
    counter = itertools.count()

    def dump(_signum: int, _frame: object) -> None:
        tracemalloc.take_snapshot().dump(str(data_dir / f"trace-{next(counter)}.snapshot"))

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["assistantd", *argv]
    assistantd_main()


def compare_snapshots(data_dir: Path, first: int, last: int) -> None:
    import tracemalloc

    def load(n: int) -> tracemalloc.Snapshot:
        path = data_dir / f"trace-{n}.snapshot"
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the dump may still be being written
        return tracemalloc.Snapshot.load(str(path))

    before, after = load(first), load(last)
    print("largest growth between the snapshots (tracemalloc, by traceback):")
    for stat in after.compare_to(before, "traceback")[:12]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB  {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format()[-12:]:
            print("     ", line)


def run(pid: int, base: str, args: argparse.Namespace, data_dir: Path) -> None:
    rng = random.Random(args.seed)
    mix = Mix()
    steps = mix.steps()
    statuses: dict[int, int] = {}
    headers = {"OpenAI-Beta": "assistants=v2"}
    print(f"requests  VmRSS MB  growth MB  req/s   statuses so far (pid {pid})")
    first: float | None = None
    last_sample = args.requests // args.every
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        print(f"{0:>8}  {rss_mb(pid):8.1f}")
        for i in range(1, args.requests + 1):
            # A new bearer token on every request (the server is open: every one is accepted).
            http.headers["authorization"] = f"Bearer sk-{secrets.token_urlsafe(24)}"
            step = mix.search if i % args.search_every == 0 else steps[i % len(steps)]
            status = step(http, rng)
            statuses[status] = statuses.get(status, 0) + 1
            if i % args.every == 0:
                rss = rss_mb(pid)
                first = rss if first is None else first
                rate = i / (time.perf_counter() - started)
                shown = " ".join(f"{code}:{n}" for code, n in sorted(statuses.items()))
                print(f"{i:>8}  {rss:8.1f}  {rss - first:+9.1f}  {rate:5.0f}   {shown}", flush=True)
                if args.tracemalloc and i // args.every in (args.warmup, last_sample):
                    os.kill(pid, signal.SIGUSR1)
    if args.tracemalloc:
        compare_snapshots(data_dir, 0, 1)


if __name__ == "__main__":
    main()
