"""Start and stop a real `assistantd serve` process on a free port, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# What uvicorn logs once its graceful shutdown is done.
GRACEFUL_LINE = "Finished server process"
# What `assistantd worker` logs once it executes jobs.
WORKER_READY_LINE = "worker ready"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class StopReport:
    """How a stop went: the process had already exited, ended on the signal, or was killed."""

    returncode: int | None
    sig: int
    timeout: float
    already_exited: bool = False
    killed: bool = False
    graceful: bool = False  # GRACEFUL_LINE was logged after the last start

    def describe(self, name: str = "server") -> str:
        """One line for a person, e.g. `server stopped with SIGTERM: exit code -15, ...`."""
        if self.already_exited:
            return f"{name} had already exited with code {self.returncode}"
        signame = signal.Signals(self.sig).name
        if self.killed:
            return f"{name} ignored {signame} for {self.timeout:g} s and was killed"
        shutdown = (
            "graceful shutdown logged" if self.graceful else "no graceful shutdown in its log"
        )
        return f"{name} stopped with {signame}: exit code {self.returncode}, {shutdown}"


@dataclass
class ServerProcess:
    """One server: its data dir, optional database URL and extra environment.

    `source` is a checkout whose `src/assistantd` the server runs instead of the installed
    package (an older revision, say); `last_stop` says how the last `stop()` went.
    """

    data_dir: Path
    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    source: Path | None = None
    last_stop: StopReport | None = field(default=None, init=False)
    _log_start: int = field(default=0, init=False, repr=False)  # log size when last started

    @property
    def base_url(self) -> str:
        # A wildcard bind is reached through loopback: tests never leave this machine.
        connect = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{connect}:{self.port}/v1"

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def command(self, *args: str) -> list[str]:
        cmd = [sys.executable, "-m", "assistantd", *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return cmd

    def environment(self) -> dict[str, str]:
        # Only what the test sets: no ASSISTANTD_* or OPENAI_* of whoever runs the tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
        env.update(self.env)
        if self.source is not None:
            # Ahead of the venv's own install of assistantd (an editable one points at the
            # working tree), so that the source tree's package is the one imported.
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.source / "src"), *filter(None, [env.get("PYTHONPATH")])]
            )
        return env

    def package_file(self) -> Path:
        """The `assistantd/__init__.py` the server's interpreter imports, with its environment."""
        found = subprocess.run(
            [sys.executable, "-c", "import assistantd; print(assistantd.__file__)"],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if found.returncode != 0:
            raise RuntimeError(f"cannot import assistantd for the server:\n{found.stderr}")
        return Path(found.stdout.strip()).resolve()

    def check_source(self) -> None:
        """With `source` set, fail unless the server would import assistantd from it."""
        if self.source is None:
            return
        package = self.package_file()
        wanted = (self.source / "src" / "assistantd").resolve()
        if not package.is_relative_to(wanted):
            raise RuntimeError(
                f"with PYTHONPATH={self.environment()['PYTHONPATH']} the server would import "
                f"assistantd from {package.parent}, not from {wanted}"
            )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `assistantd` subcommand against the same database."""
        return subprocess.run(
            self.command(*args),
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, *extra: str, timeout: float = 60.0) -> ServerProcess:
        """`serve` (with `extra` options), once its API answers."""
        self._launch(self.command("serve", "--port", str(self.port), "--host", self.host), *extra)
        return self._wait_until(self._healthy, timeout)

    def start_worker(self, timeout: float = 60.0) -> ServerProcess:
        """`assistantd worker` (no API), once it says it executes jobs."""
        self._launch(self.command("worker"))
        return self._wait_until(self._worker_ready, timeout)

    def _launch(self, command: list[str], *extra: str) -> None:
        self.check_source()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        with self.log_path.open("ab") as log:
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                [*command, *extra], env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _worker_ready(self) -> bool:
        return WORKER_READY_LINE.encode() in self._log_since_start()

    def _wait_until(self, ready: Callable[[], bool], timeout: float) -> ServerProcess:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send `sig`, SIGKILL after `timeout` s; the exit code (`last_stop` says how it went)."""
        if self.process is None:
            return None
        already_exited = self.process.poll() is not None
        killed = False
        if not already_exited:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                killed = True
        code = self.process.returncode
        self.process = None
        self.last_stop = StopReport(
            code,
            sig,
            timeout,
            already_exited=already_exited,
            killed=killed,
            graceful=GRACEFUL_LINE.encode() in self._log_since_start(),
        )
        return code

    def log(self) -> str:
        return self.output()[-5000:]

    def output(self) -> str:
        """Everything the server wrote so far (stdout and stderr, interleaved)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def _log_since_start(self) -> bytes:
        if self.log_path is None or not self.log_path.exists():
            return b""
        return self.log_path.read_bytes()[self._log_start :]
