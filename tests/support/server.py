"""Start and stop a real `assistantd serve` process on a free port, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One server: its data dir, optional database URL and extra environment."""

    data_dir: Path
    database_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        # A wildcard bind is reached through loopback: tests never leave this machine.
        connect = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{connect}:{self.port}/v1"

    def command(self, *args: str) -> list[str]:
        cmd = [sys.executable, "-m", "assistantd", *args, "--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        return cmd

    def environment(self) -> dict[str, str]:
        # Only what the test sets: no ASSISTANTD_* or OPENAI_* of whoever runs the tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
        env.update(self.env)
        return env

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.command("serve", "--port", str(self.port), "--host", self.host), *extra],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.output()[-5000:]

    def output(self) -> str:
        """Everything the server wrote so far (stdout and stderr, interleaved)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")
