"""Run streams read byte-exactly, next to the SDK: strict SSE framing (wire-spec 7.1).

A frame is either an event (`event: <name>` line, `data: <payload>` line, blank line) or a
comment block (lines starting with `:`, e.g. `: keep-alive`). Anything else in the body (a
`data:` without `event:`, several data lines, a missing blank line) fails the calling test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class SseComment:
    text: str  # what follows the colon, without the single optional leading space


Frame = SseEvent | SseComment


def _frames_of_block(lines: list[str]) -> list[Frame]:
    """The frames of one blank-line-terminated block."""
    assert lines, "empty SSE block"
    if all(line.startswith(":") for line in lines):
        return [SseComment(line[2:] if line.startswith(": ") else line[1:]) for line in lines]
    assert len(lines) == 2, f"an event must be exactly an event: and a data: line, got {lines!r}"
    event, data = lines
    assert event.startswith("event: "), f"event block without a leading event: line: {lines!r}"
    assert data.startswith("data: "), f"event block without a data: line: {lines!r}"
    return [SseEvent(event[len("event: ") :], data[len("data: ") :])]


def parse_frames(body: str) -> list[Frame]:
    """Every frame of a complete SSE body, in order."""
    assert body.endswith("\n\n"), f"SSE body does not end with a blank line: {body[-80:]!r}"
    assert "\r" not in body, "SSE body uses CR line endings"
    frames: list[Frame] = []
    for block in body[:-2].split("\n\n"):
        frames.extend(_frames_of_block(block.split("\n")))
    return frames


def iter_frames(response: httpx.Response) -> Iterator[Frame]:
    """Frames as they arrive (for tests that act in the middle of a stream)."""
    block: list[str] = []
    for line in response.iter_lines():
        if line:
            block.append(line)
            continue
        if block:
            yield from _frames_of_block(block)
            block = []
    assert not block, f"SSE body ended inside a block: {block!r}"


@dataclass
class RawStream:
    """A whole streamed response: status, headers, raw body and its frames."""

    status_code: int
    headers: httpx.Headers
    body: str
    frames: list[Frame]

    @property
    def events(self) -> list[SseEvent]:
        return [frame for frame in self.frames if isinstance(frame, SseEvent)]

    @property
    def names(self) -> list[str]:
        return [event.event for event in self.events]

    def data(self, name: str) -> list[Any]:
        """The decoded data of every event called `name`, in order."""
        return [event.json() for event in self.events if event.event == name]

    def one(self, name: str) -> Any:
        """The decoded data of the only event called `name`."""
        found = self.data(name)
        assert len(found) == 1, f"{len(found)} {name} events in {self.names}"
        return found[0]


def post_stream(api: httpx.Client, path: str, body: dict[str, Any]) -> RawStream:
    """POST `body` to `path` and read the whole response; only a 200 is parsed as SSE."""
    with api.stream("POST", path, json=body) as response:
        text = response.read().decode()
    frames = parse_frames(text) if response.status_code == 200 else []
    return RawStream(response.status_code, response.headers, text, frames)
