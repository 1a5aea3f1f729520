"""Annotations of an answer: a search result cited as 【call:rank†filename】 becomes a
`file_citation`, and a `sandbox:/mnt/data/...` path the code interpreter wrote becomes a
`file_path`; each annotation's offsets cover the marker or path exactly.

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
# A path ends at whitespace, a quote, a bracket or closing punctuation.
SANDBOX_PATH = re.compile(
    r"sandbox:(/mnt/data/[^\s()\[\]<>\"'`]+?)(?=[.,;:!?]*(?:[\s()\[\]<>\"'`]|$))"
)
PATH_PREFIX = "sandbox:"


def marker(call: int, rank: int, filename: str) -> str:
    return f"{OPEN}{call}:{rank}†{filename}{CLOSE}"


Sources = Mapping[tuple[int, int], str]
"""(file_search call number in the run, result rank) -> file id."""

Paths = Mapping[str, str]
"""/mnt/data path a code_interpreter call wrote -> the file id it was saved as."""


def paths_of_steps(steps: Sequence[Mapping[Any, Any]]) -> dict[str, str]:
    """Every file the run's code_interpreter calls wrote, by its /mnt/data path."""
    paths: dict[str, str] = {}
    for step in steps:
        details = step["step_details"]
        if details.get("type") != "tool_calls":
            continue
        for item in details["tool_calls"]:
            paths.update(item.get("_files") or {})
    return paths


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


def path_annotation(match: re.Match[str], file_id: str) -> dict[str, Any]:
    return {
        "type": "file_path",
        "text": match.group(0),
        "start_index": match.start(),
        "end_index": match.end(),
        "file_path": {"file_id": file_id},
    }


@dataclass
class CitationScanner:
    """Finds markers and paths as the answer streams in, each once, even when split across
    fragments. `feed` holds back an unfinished one; `finish` takes what the end completes."""

    sources: Sources
    paths: Paths = field(default_factory=dict)
    scanned: int = 0  # text before this index holds nothing unfinished
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, text: str) -> list[dict[str, Any]]:
        """`text` is the whole answer so far; returns the annotations completed by its tail."""
        return self._scan(text, final=False)

    def finish(self, text: str) -> list[dict[str, Any]]:
        """The complete answer: annotations that only its end completed (a path at the end)."""
        return self._scan(text, final=True)

    def _scan(self, text: str, *, final: bool) -> list[dict[str, Any]]:
        found: list[tuple[int, dict[str, Any]]] = []
        for match in MARKER.finditer(text, self.scanned):
            file_id = self.sources.get((int(match.group(1)), int(match.group(2))))
            if file_id is not None:
                found.append((match.start(), annotation(match, file_id)))
        for match in SANDBOX_PATH.finditer(text, self.scanned):
            if not final and match.end() == len(text):
                continue  # the path may go on in the next fragment
            file_id = self.paths.get(match.group(1))
            if file_id is not None:
                found.append((match.start(), path_annotation(match, file_id)))
        found.sort(key=lambda item: item[0])
        new = [item for _, item in found]
        self.annotations.extend(new)
        self.scanned = len(text) if final else self._resume_from(text, new)
        return new

    def _resume_from(self, text: str, new: list[dict[str, Any]]) -> int:
        """Where the next scan starts: after what was found, but at any unfinished marker or
        path (an opening bracket without its close, a path touching the end)."""
        start = max([self.scanned, *(int(item["end_index"]) for item in new)])
        pending = [
            at
            for at in (text.rfind(OPEN, start), text.rfind(PATH_PREFIX, start))
            if at != -1 and len(text) - at <= 300
        ]
        unfinished = [
            at
            for at in pending
            if (text[at] == OPEN and CLOSE not in text[at:])
            or (text.startswith(PATH_PREFIX, at) and not re.search(r"[\s()\[\]<>\"'`]", text[at:]))
        ]
        if unfinished:
            return min(unfinished)
        tail = len(PATH_PREFIX)  # "sandb" may become "sandbox:" with the next fragment
        return max(start, len(text) - tail)
