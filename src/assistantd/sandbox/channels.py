"""The client end of one kernel's sockets: connected once, read continuously, routed by callback.

Messages are read as soon as they arrive (and dropped when nobody waits for them), so a kernel
that talks out of turn cannot make messages pile up in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import zmq
import zmq.asyncio

from assistantd.sandbox.protocol import Envelope, WireCodec

RECEIVED_CHANNELS = ("shell", "control", "iopub")
_HWM = 64

MessageHandler = Callable[[str, Envelope], None]


class KernelChannels:
    """shell and control (DEALER) and iopub (SUB) connected to one kernel."""

    def __init__(
        self,
        context: zmq.asyncio.Context,
        codec: WireCodec,
        *,
        max_message_bytes: int,
        on_message: MessageHandler,
    ) -> None:
        self._context = context
        self._codec = codec
        self._max_message_bytes = max_message_bytes
        self._on_message = on_message
        self._sockets: dict[str, zmq.asyncio.Socket] = {}
        self._readers: list[asyncio.Task[None]] = []

    def connect(self, endpoints: dict[str, str]) -> None:
        """Connect to `endpoints` (channel -> ipc://path) and start reading."""
        kinds = {"shell": zmq.DEALER, "control": zmq.DEALER, "iopub": zmq.SUB}
        for channel, kind in kinds.items():
            sock = self._context.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            # Never reconnect: the socket paths live in a folder the kernel can write, so a
            # reconnect could follow a symlink the user's code planted to another host socket.
            sock.setsockopt(zmq.RECONNECT_IVL, -1)
            sock.setsockopt(zmq.MAXMSGSIZE, self._max_message_bytes)
            sock.setsockopt(zmq.RCVHWM, _HWM)
            if kind == zmq.SUB:
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(endpoints[channel])
            self._sockets[channel] = sock
        for channel in RECEIVED_CHANNELS:
            self._readers.append(asyncio.create_task(self._read(channel)))

    async def send(self, channel: str, frames: list[bytes]) -> None:
        """Send an encoded request (see WireCodec.encode)."""
        await self._sockets[channel].send_multipart(frames)

    async def _read(self, channel: str) -> None:
        sock = self._sockets[channel]
        while True:
            try:
                frames = await sock.recv_multipart()
            except (zmq.ZMQError, asyncio.CancelledError):
                return
            envelope = self._codec.envelope(frames)
            if envelope is not None:
                self._on_message(channel, envelope)

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._readers.clear()
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()
