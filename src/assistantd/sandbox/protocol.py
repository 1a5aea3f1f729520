"""The Jupyter messaging wire format (v5.3): signing, encoding and lazily decoding messages."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

DELIMITER = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A received message whose signature has not been checked nor its content parsed yet:
    the header says whether it concerns us before any expensive work is done."""

    msg_type: str
    parent_id: str | None
    frames: list[bytes]  # signature, header, parent header, metadata, content, buffers...


class WireCodec:
    """Encodes and decodes one kernel's messages with its HMAC-SHA256 key."""

    def __init__(self, key: bytes, session_id: str | None = None) -> None:
        self._key = key
        self.session_id = session_id or uuid.uuid4().hex

    def _sign(self, parts: list[bytes]) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode("ascii")

    def encode(self, msg_type: str, content: JsonObject) -> tuple[str, list[bytes]]:
        """Frames of a new request and its msg_id (replies name it as their parent)."""
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "session": self.session_id,
            "username": "assistantd",
            "date": datetime.now(UTC).isoformat(),
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
        }
        parts = [orjson.dumps(header), b"{}", b"{}", orjson.dumps(content)]
        return msg_id, [DELIMITER, self._sign(parts), *parts]

    def envelope(self, frames: list[bytes]) -> Envelope | None:
        """Read the routing part of a message; None for anything that is not one."""
        try:
            start = frames.index(DELIMITER) + 1
        except ValueError:
            return None
        body = frames[start:]
        if len(body) < 5:
            return None
        try:
            header = orjson.loads(body[1])
            parent = orjson.loads(body[2])
        except orjson.JSONDecodeError:
            return None
        if not isinstance(header, dict) or not isinstance(parent, dict):
            return None
        msg_type = header.get("msg_type")
        parent_id = parent.get("msg_id")
        if not isinstance(msg_type, str):
            return None
        return Envelope(msg_type, parent_id if isinstance(parent_id, str) else None, body)

    def content(self, envelope: Envelope) -> JsonObject | None:
        """The verified content of a message; None when the signature or the JSON is wrong."""
        signature, *parts = envelope.frames[:5]
        if not hmac.compare_digest(signature, self._sign(parts)):
            return None
        try:
            content = orjson.loads(parts[3])
        except orjson.JSONDecodeError:
            return None
        return content if isinstance(content, dict) else None
