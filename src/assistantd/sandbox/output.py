"""Collects one call's output: terminal-like logs (capped, colour codes removed) and images."""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# CSI sequences (colours, cursor moves) and OSC sequences (titles, links).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


class OutputCollector:
    """Accumulates logs up to `cap` characters (then a marker), forwarding each piece to
    `on_output` as it arrives, and keeps at most `max_images` PNG images."""

    def __init__(
        self, cap: int, max_images: int, on_output: Callable[[str], None] | None = None
    ) -> None:
        self._cap = cap
        self._max_images = max_images
        self._on_output = on_output
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False
        self.images: list[bytes] = []
        self.dropped_images = 0

    @property
    def full(self) -> bool:
        """Further text would be dropped: callers may skip decoding it."""
        return self.truncated

    def text(self, text: str) -> None:
        if self.truncated or not text:
            return
        text = strip_ansi(text)
        room = self._cap - self._size
        if len(text) > room:
            text = text[:room] + f"\n[output truncated: more than {self._cap} characters]\n"
            self.truncated = True
        self._parts.append(text)
        self._size += len(text)
        self._emit(text)

    def notice(self, text: str) -> None:
        """A line from the sandbox itself (limits hit, files not kept): never truncated."""
        if self._parts and not self._parts[-1].endswith("\n"):
            text = "\n" + text
        text = text if text.endswith("\n") else text + "\n"
        self._parts.append(text)
        self._emit(text)

    def image(self, encoded: str) -> None:
        """A base64 image/png from display_data or execute_result."""
        if len(self.images) >= self._max_images:
            self.dropped_images += 1
            return
        try:
            data = base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            return
        if data.startswith(PNG_SIGNATURE):
            self.images.append(data)

    @property
    def logs(self) -> str:
        return "".join(self._parts)

    def _emit(self, text: str) -> None:
        if self._on_output is None:
            return
        try:
            self._on_output(text)
        except Exception:
            # The call must go on (the kernel is running the code whatever happens here), so a
            # failing listener is dropped rather than allowed to abandon the call half-way.
            log.exception("sandbox on_output callback failed; no more output is forwarded")
            self._on_output = None
