"""Citation markers: the model cites a search result as 【call:rank†filename】 and the engine
turns each marker into a `file_citation` annotation whose offsets cover the marker exactly.

Offsets are counted in characters of the message's text value (Python `str` indices), which is
what `start_index`/`end_index` mean on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MARKER = re.compile(r"【(\d+):(\d+)†([^】\n]{0,256})】")
OPEN, CLOSE = "【", "】"


def marker(call: int, rank: int, filename: str) -> str:
    return f"{OPEN}{call}:{rank}†{filename}{CLOSE}"


Sources = Mapping[tuple[int, int], str]
"""(file_search call number in the run, result rank) -> file id."""


def sources_of_steps(steps: Sequence[Mapping[Any, Any]]) -> dict[tuple[int, int], str]:
    """Every result the run's file_search calls returned, keyed as the markers name them."""
    sources: dict[tuple[int, int], str] = {}
    call_no = 0
    for step in steps:
        details = step["step_details"]
        if details.get("type") != "tool_calls":
            continue
        for item in details["tool_calls"]:
            if item.get("type") != "file_search":
                continue
            for rank, result in enumerate(item["file_search"].get("results") or []):
                sources[(call_no, rank)] = result["file_id"]
            call_no += 1
    return sources


def annotation(match: re.Match[str], file_id: str, offset: int = 0) -> dict[str, Any]:
    return {
        "type": "file_citation",
        "text": match.group(0),
        "start_index": offset + match.start(),
        "end_index": offset + match.end(),
        "file_citation": {"file_id": file_id},
    }


def annotate(text: str, sources: Sources) -> list[dict[str, Any]]:
    """Annotations for every marker in `text` that names a real result, in order."""
    found = []
    for match in MARKER.finditer(text):
        file_id = sources.get((int(match.group(1)), int(match.group(2))))
        if file_id is not None:
            found.append(annotation(match, file_id))
    return found


@dataclass
class CitationScanner:
    """Finds markers as the answer streams in, each once, even when split across fragments."""

    sources: Sources
    scanned: int = 0  # text before this index holds no unfinished marker
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, text: str) -> list[dict[str, Any]]:
        """`text` is the whole answer so far; returns the annotations completed by its tail."""
        new: list[dict[str, Any]] = []
        for match in MARKER.finditer(text, self.scanned):
            file_id = self.sources.get((int(match.group(1)), int(match.group(2))))
            if file_id is not None:
                item = annotation(match, file_id)
                self.annotations.append(item)
                new.append(item)
            self.scanned = match.end()
        # Keep scanning from an unclosed opening bracket; otherwise from the end.
        pending = text.rfind(OPEN, self.scanned)
        if pending == -1 or CLOSE in text[pending:] or len(text) - pending > 300:
            self.scanned = max(self.scanned, len(text) if pending == -1 else pending + 1)
        else:
            self.scanned = max(self.scanned, pending)
        return new
