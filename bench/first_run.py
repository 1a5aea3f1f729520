"""Clone to first answer: from a fresh copy of the repository and an empty pip cache, run the
README's install-and-start command (`make run`) and time until a `POST /v1/threads/runs` has
completed with an answer. Prints each install step's duration (the Makefile's `==>` lines) and
the longest silence in the output. Target: <= 180 s on 2 cores; no silence > 30 s.

    python bench/first_run.py                 # a `git clone` of HEAD
    python bench/first_run.py --working-tree  # the checkout's files as they are (uncommitted too)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from processes import free_port

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What is the capital of France?"


@dataclass
class Output:
    """`make run`'s output lines, each with its time since the start."""

    started: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    def read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            self.lines.append((time.monotonic() - self.started, line))

    def longest_silence(self, until: float) -> tuple[float, str]:
        """The longest gap between two lines (or the last line and `until`), and the line
        that preceded it."""
        gaps = [(0.0, "")]
        previous, before = 0.0, "(start)"
        for at, line in [*self.lines, (until, "")]:
            gaps.append((at - previous, before))
            previous, before = at, line
        return max(gaps)


def copy_checkout(target: Path, working_tree: bool) -> None:
    if not working_tree:
        subprocess.run(["git", "clone", "--quiet", f"file://{ROOT}", str(target)], check=True)
        return
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def environment(pip_cache: Path) -> dict[str, str]:
    scrubbed = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR", "MAKEFLAGS")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in scrubbed and not key.startswith(("ASSISTANTD_", "OPENAI_"))
    }
    env["PIP_CACHE_DIR"] = str(pip_cache)  # empty: everything comes from the index
    return env


def first_answer(base_url: str, deadline: float) -> str:
    """Create an assistant, then a thread and run in one `POST /v1/threads/runs`; poll it."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        assistant = http.post("/assistants", json={"model": "gpt-4o"}).raise_for_status().json()
        body = {
            "assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": QUESTION}]},
        }
        run = http.post("/threads/runs", json=body).raise_for_status().json()
        while run["status"] in ("queued", "in_progress"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the run is still {run['status']}")
            time.sleep(0.1)
            path = f"/threads/{run['thread_id']}/runs/{run['id']}"
            run = http.get(path).raise_for_status().json()
        if run["status"] != "completed":
            raise RuntimeError(f"the run ended {run['status']}: {run.get('last_error')}")
        messages = http.get(f"/threads/{run['thread_id']}/messages").raise_for_status().json()
        return str(messages["data"][0]["content"][0]["text"]["value"])


def wait_listening(base_url: str, make: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if make.poll() is not None:
            raise RuntimeError(f"make run exited with {make.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("the server did not start in time")


def stop(make: subprocess.Popen[bytes]) -> None:
    """End `make run` and the server it started (its own process group)."""
    if make.poll() is None:
        os.killpg(make.pid, signal.SIGTERM)
        try:
            make.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--working-tree", action="store_true", help="copy, do not clone")
    parser.add_argument("--timeout", type=float, default=900, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--quiet", action="store_true", help="do not echo make's output")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-first-run-"))
    folder.chmod(0o755)  # like a clone in a home directory: the sandbox's uid reads its venv
    repo, cache = folder / "repo", folder / "pip-cache"
    cache.mkdir()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"{'copy of the working tree' if args.working_tree else 'git clone of HEAD'} in {repo}",
        flush=True,
    )
    started = time.monotonic()
    deadline = started + args.timeout
    copy_checkout(repo, args.working_tree)
    output = Output(started)
    make = subprocess.Popen(
        ["make", "run", f"ARGS=--port {port}"],
        cwd=repo,
        env=environment(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    reader = threading.Thread(target=output.read, args=(make.stdout,), daemon=True)
    reader.start()
    echo = threading.Thread(target=echo_lines, args=(output, make, args.quiet), daemon=True)
    echo.start()
    try:
        wait_listening(base_url, make, deadline)
        listening = time.monotonic() - started
        answer = first_answer(base_url, deadline)
        answered = time.monotonic() - started
    finally:
        stop(make)
        reader.join(timeout=5)
        echo.join(timeout=5)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    steps = [(at, line) for at, line in output.lines if line.startswith("==> ")]
    for (at, line), (following, _) in zip(steps, [*steps[1:], (listening, "")], strict=True):
        print(f"{following - at:6.1f} s  {line[4:]}")
    silence, after = output.longest_silence(answered)
    print(f"server listening after {listening:.1f} s")
    print(f"first answer after {answered:.1f} s (target <= 180 s): {answer.strip()[:80]!r}")
    print(f"longest silence: {silence:.1f} s (target <= 30 s), after {after.strip()[:100]!r}")


def echo_lines(output: Output, make: subprocess.Popen[bytes], quiet: bool) -> None:
    shown = 0
    while make.poll() is None or shown < len(output.lines):
        while shown < len(output.lines):
            at, line = output.lines[shown]
            if not quiet:
                print(f"[{at:6.1f}] {line}", flush=True)
            shown += 1
        time.sleep(0.1)


if __name__ == "__main__":
    main()
