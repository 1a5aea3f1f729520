"""The server's end of one kernel's channels: a relay process (relay.py) spoken to over pipes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from assistantd.sandbox.errors import SandboxUnavailable
from assistantd.sandbox.process import SpawnPlan, preexec_for
from assistantd.sandbox.protocol import Envelope, WireCodec
from assistantd.sandbox.relay import (
    CHANNEL_IDS,
    CONNECT,
    OVERSIZE,
    RecordReader,
    encode_record,
)

# The relay runs in the session's cgroup and forwards whole ZMQ messages as bounded records, so
# whatever the kernel sends costs the server at most one record of memory.

MessageHandler = Callable[[str, Envelope], None]
# The relay parses what a hostile kernel sends, so it gets none of the server's environment
# (its keys): only where programs are, and the loader path a Python may need to start.
_RELAY_ENV_PASSED = ("LD_LIBRARY_PATH",)
RELAY_SCRIPT = Path(__file__).with_name("relay.py")
_CHANNEL_NAMES = {number: name for name, number in CHANNEL_IDS.items()}


class _RelayOutput(asyncio.Protocol):
    """Parses the relay's stdout into messages as it arrives."""

    def __init__(self, channels: KernelChannels, max_bytes: int) -> None:
        self._channels = channels
        self._reader = RecordReader(max_bytes)

    def data_received(self, data: bytes) -> None:
        try:
            records = self._reader.feed(data)
        except ValueError:
            self._channels.broken("the relay sent a malformed record")
            return
        for channel, frames in records:
            self._channels.deliver(channel, frames)

    def connection_lost(self, exc: Exception | None) -> None:
        self._channels.broken("the relay exited")


class KernelChannels:
    """shell, control and iopub of one kernel, through its relay. `on_message` gets every
    message (unverified: see WireCodec.content); `running` turns false if the relay is gone."""

    def __init__(
        self,
        codec: WireCodec,
        *,
        max_message_bytes: int,
        plan: SpawnPlan,
        log_path: Path,
    ) -> None:
        self._codec = codec
        self._max = max_message_bytes
        self._plan = plan
        self._log_path = log_path
        self._popen: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._reader: asyncio.ReadTransport | None = None
        self._on_message: MessageHandler | None = None
        self.failure: str | None = None
        self.oversize_dropped = 0

    async def start(
        self, root_fd: int, socket_paths: dict[str, str], on_message: MessageHandler
    ) -> None:
        """Start the relay; it connects when `connect()` says the sockets exist. `socket_paths`
        are paths under the sandbox root reached through `root_fd` (passed to the relay)."""
        self._on_message = on_message
        root = f"/proc/self/fd/{root_fd}"
        endpoints = [f"ipc://{root}{socket_paths[name]}" for name in ("shell", "control", "iopub")]
        argv = [sys.executable, "-I", str(RELAY_SCRIPT), str(self._max), *endpoints]
        stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        stdout_read, stdout_write = os.pipe2(os.O_CLOEXEC)
        try:
            with self._log_path.open("ab") as log:
                # On the event loop's thread, like bwrap (see process.py).
                self._popen = subprocess.Popen(
                    argv,
                    stdin=stdin_read,
                    stdout=stdout_write,
                    stderr=log,
                    env=_relay_environment(),
                    close_fds=True,
                    pass_fds=(root_fd,),
                    start_new_session=True,
                    preexec_fn=preexec_for(self._plan),
                )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(stdin_write)
            os.close(stdout_read)
            raise SandboxUnavailable(f"could not start the kernel relay: {exc}") from exc
        finally:
            os.close(stdin_read)
            os.close(stdout_write)
        loop = asyncio.get_running_loop()
        self._writer, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(stdin_write, "wb", buffering=0)
        )
        self._reader, _ = await loop.connect_read_pipe(
            lambda: _RelayOutput(self, self._max), os.fdopen(stdout_read, "rb", buffering=0)
        )

    def connect(self) -> None:
        """Tell the relay to connect (only once the kernel's socket files exist)."""
        self._write(encode_record(CONNECT, []))

    async def send(self, channel: str, frames: list[bytes]) -> None:
        """Send an encoded request (see WireCodec.encode) on shell or control."""
        self._write(encode_record(CHANNEL_IDS[channel], frames))

    def _write(self, record: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            return  # the session is dead; the caller finds out through `running`
        self._writer.write(record)

    @property
    def pid(self) -> int | None:
        """Host pid of the relay, once started."""
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self.failure is None and self._popen is not None and self._popen.poll() is None

    def deliver(self, channel_id: int, frames: list[bytes]) -> None:
        if channel_id == OVERSIZE:
            self.oversize_dropped += 1
            return
        channel = _CHANNEL_NAMES.get(channel_id)
        envelope = self._codec.envelope(frames) if channel is not None else None
        if envelope is not None and channel is not None and self._on_message is not None:
            self._on_message(channel, envelope)

    def broken(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        self._kill()

    def _kill(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGKILL)

    async def close(self) -> None:
        if self.failure is None:
            self.failure = "closed"
        for transport in (self._writer, self._reader):
            if transport is not None:
                transport.close()
        self._kill()
        if self._popen is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while self._popen.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.01)


def _relay_environment() -> dict[str, str]:
    env = {"PATH": os.defpath, "LANG": "C.UTF-8"}
    env.update({name: os.environ[name] for name in _RELAY_ENV_PASSED if name in os.environ})
    return env
