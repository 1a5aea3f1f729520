"""Annotations found while an answer streams equal those of the whole answer, at exact offsets."""

from __future__ import annotations

import pytest

from assistantd.engine.citations import CitationScanner

SOURCES = {(0, 0): "file-a", (0, 1): "file-b"}
PATHS = {"/mnt/data/chart.png": "file-png", "/mnt/data/out.csv": "file-csv"}
ANSWER = (
    "Redwoods 【0:0†trees.txt】 are tall; pasta 【0:1†pasta.txt】 is not 【7:7†nope】. "
    "Download sandbox:/mnt/data/out.csv, see (sandbox:/mnt/data/chart.png) and "
    "sandbox:/mnt/data/missing.txt. Last: sandbox:/mnt/data/out.csv"
)


def whole(text: str) -> list[dict[str, object]]:
    scanner = CitationScanner(SOURCES, PATHS)
    return scanner.feed(text) + scanner.finish(text)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 11, 1000])
def test_streamed_scan_matches_the_whole_answer(size: int) -> None:
    scanner = CitationScanner(SOURCES, PATHS)
    text = ""
    streamed: list[dict[str, object]] = []
    for i in range(0, len(ANSWER), size):
        text += ANSWER[i : i + size]
        streamed += scanner.feed(text)
    streamed += scanner.finish(text)
    assert streamed == whole(ANSWER)
    assert scanner.annotations == streamed


def test_offsets_cover_the_marker_or_path_exactly() -> None:
    found = whole(ANSWER)
    assert [a["type"] for a in found] == [
        "file_citation",
        "file_citation",
        "file_path",
        "file_path",
        "file_path",
    ]
    for item in found:
        assert ANSWER[item["start_index"] : item["end_index"]] == item["text"]  # type: ignore[misc]
    assert [a["text"] for a in found[2:]] == [
        "sandbox:/mnt/data/out.csv",
        "sandbox:/mnt/data/chart.png",
        "sandbox:/mnt/data/out.csv",
    ]
    assert found[0]["file_citation"] == {"file_id": "file-a"}
    assert found[3]["file_path"] == {"file_id": "file-png"}


def test_a_path_at_the_end_waits_for_the_end() -> None:
    scanner = CitationScanner({}, PATHS)
    assert scanner.feed("see sandbox:/mnt/data/out.cs") == []
    assert scanner.feed("see sandbox:/mnt/data/out.csv") == []
    (item,) = scanner.finish("see sandbox:/mnt/data/out.csv")
    assert (item["start_index"], item["end_index"]) == (4, 29)
