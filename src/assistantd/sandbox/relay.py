"""The session's ZMQ end, run as its own process inside the session's cgroup."""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Sequence

import zmq

# ZMQ delivers multipart messages whole, so whoever receives a kernel's messages may be made to
# buffer an endless one. That is this process, whose memory counts against the session's limit,
# never the server: the server reads bounded records from this process's stdout. Run as a script
# (`python -I relay.py MAX_MESSAGE_BYTES SHELL CONTROL IOPUB`); it imports nothing from
# assistantd so that it starts fast, and the server imports the record format from here.

SHELL, CONTROL, IOPUB = 0, 1, 2
CHANNEL_IDS = {"shell": SHELL, "control": CONTROL, "iopub": IOPUB}
CONNECT = 255  # server -> relay: the kernel's sockets exist, connect now
OVERSIZE = 254  # relay -> server: a message over the size limit was dropped

_LENGTH = struct.Struct(">I")  # bytes of the record after this field
_HEAD = struct.Struct(">BH")  # channel, number of frames
_FRAME = struct.Struct(">I")
_READ_CHUNK = 1 << 16


def encode_record(channel: int, frames: Sequence[bytes]) -> bytes:
    parts = [_HEAD.pack(channel, len(frames))]
    for frame in frames:
        parts += [_FRAME.pack(len(frame)), frame]
    body = b"".join(parts)
    return _LENGTH.pack(len(body)) + body


class RecordReader:
    """Splits a byte stream into (channel, frames) records. A record longer than `max_bytes`
    plus framing raises ValueError: the other side is broken or hostile."""

    def __init__(self, max_bytes: int) -> None:
        self._buffer = bytearray()
        self._max = max_bytes + _HEAD.size + 64 * _FRAME.size

    def feed(self, data: bytes) -> list[tuple[int, list[bytes]]]:
        self._buffer += data
        records: list[tuple[int, list[bytes]]] = []
        start = 0
        view = memoryview(self._buffer)
        try:
            while len(self._buffer) - start >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(view, start)
                if length > self._max or length < _HEAD.size:
                    raise ValueError(f"bad record length {length}")
                end = start + _LENGTH.size + length
                if end > len(self._buffer):
                    break
                records.append(self._parse(view[start + _LENGTH.size : end]))
                start = end
        finally:
            view.release()
        del self._buffer[:start]
        return records

    @staticmethod
    def _parse(body: memoryview) -> tuple[int, list[bytes]]:
        channel, count = _HEAD.unpack_from(body, 0)
        offset = _HEAD.size
        frames = []
        for _ in range(count):
            (size,) = _FRAME.unpack_from(body, offset)
            offset += _FRAME.size
            if offset + size > len(body):
                raise ValueError("frame past the end of its record")
            frames.append(bytes(body[offset : offset + size]))
            offset += size
        if offset != len(body):
            raise ValueError("bytes after the last frame")
        return channel, frames


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main(argv: Sequence[str]) -> int:
    max_bytes = int(argv[1])
    endpoints = {SHELL: argv[2], CONTROL: argv[3], IOPUB: argv[4]}
    reader = RecordReader(max_bytes)
    context = zmq.Context(io_threads=1)
    sockets: dict[int, zmq.Socket[bytes]] = {}
    by_socket: dict[zmq.Socket[bytes], int] = {}
    poller = zmq.Poller()
    poller.register(0, zmq.POLLIN)
    while True:
        for item, _ in poller.poll():
            if item == 0:
                data = os.read(0, _READ_CHUNK)
                if not data:
                    return 0  # the server closed the session
                for channel, frames in reader.feed(data):
                    if channel == CONNECT and not sockets:
                        sockets = _connect(context, endpoints, max_bytes)
                        for channel_id, sock in sockets.items():
                            by_socket[sock] = channel_id
                            poller.register(sock, zmq.POLLIN)
                    elif channel in (SHELL, CONTROL) and channel in sockets:
                        sockets[channel].send_multipart(frames)
            else:
                assert isinstance(item, zmq.Socket)
                frames = item.recv_multipart()
                channel = by_socket[item]
                if sum(len(frame) for frame in frames) > max_bytes:
                    _write_all(1, encode_record(OVERSIZE, [bytes([channel])]))
                else:
                    _write_all(1, encode_record(channel, frames))


def _connect(
    context: zmq.Context[zmq.Socket[bytes]], endpoints: dict[int, str], max_bytes: int
) -> dict[int, zmq.Socket[bytes]]:
    sockets: dict[int, zmq.Socket[bytes]] = {}
    for channel, kind in ((SHELL, zmq.DEALER), (CONTROL, zmq.DEALER), (IOPUB, zmq.SUB)):
        sock: zmq.Socket[bytes] = context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        # Never reconnect: the socket files live in a folder the kernel can write, so a
        # reconnect could follow a symlink that user code planted to some other socket.
        sock.setsockopt(zmq.RECONNECT_IVL, -1)
        sock.setsockopt(zmq.MAXMSGSIZE, max_bytes)
        sock.setsockopt(zmq.RCVHWM, 64)
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoints[channel])
        sockets[channel] = sock
    return sockets


if __name__ == "__main__":
    sys.exit(main(sys.argv))
