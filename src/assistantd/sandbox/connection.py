"""The kernel's connection file: ipc sockets in the sandbox's socket folder and a fresh key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the kernel binds its sockets (`<prefix>-<n>` inside the sandbox) and its HMAC key."""

    prefix: str  # path prefix inside the sandbox, e.g. /run/kernel/k
    key: bytes

    @classmethod
    def new(cls, prefix: str) -> Connection:
        return cls(prefix=prefix, key=secrets.token_hex(32).encode("ascii"))

    def port(self, channel: str) -> int:
        return CHANNELS.index(channel) + 1

    def socket_name(self, channel: str) -> str:
        """The socket file's name inside the socket folder."""
        return f"{self.prefix.rsplit('/', 1)[-1]}-{self.port(channel)}"

    def file_bytes(self) -> bytes:
        """The connection file as ipykernel reads it."""
        info: dict[str, object] = {
            "transport": "ipc",
            "ip": self.prefix,
            "key": self.key.decode("ascii"),
            "signature_scheme": "hmac-sha256",
            "kernel_name": "python3",
        }
        for channel in CHANNELS:
            info[f"{channel}_port"] = self.port(channel)
        return orjson.dumps(info)
