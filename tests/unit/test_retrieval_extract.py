"""Text extraction: every supported format, the sniffing fallback and the two error kinds."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from assistantd.retrieval.extract import (
    ExtractionError,
    InvalidFileError,
    UnsupportedFileError,
    extract_text,
)
from tests.support.files import make_pdf


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / "upload"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "name",
    ["notes.txt", "README.md", "data.json", "rows.csv", "main.py", "app.ts", "lib.rs", "x.yaml",
     "Main.java", "a.c", "a.cpp", "a.h", "a.go", "a.rb", "a.php", "run.sh", "s.css", "p.tex",
     "d.xml", "Makefile"],
)  # fmt: skip
def test_text_formats_are_returned_verbatim(tmp_path: Path, name: str) -> None:
    content = 'first line: {"k": 1}, a,b\n  indented é ü 日本\n'
    assert extract_text(write(tmp_path, name, content), name) == content


def test_utf8_bom_is_dropped_and_cp1252_is_decoded(tmp_path: Path) -> None:
    assert extract_text(write(tmp_path, "a.txt", b"\xef\xbb\xbfhello"), "a.txt") == "hello"
    assert extract_text(write(tmp_path, "a.txt", b"caf\xe9 \x93q\x94"), "a.txt") == (
        "caf\u00e9 \u201cq\u201d"
    )


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "hello wörld".encode("utf-16"))
    assert extract_text(path, "a.txt") == "hello wörld"


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    html = (
        "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style>"
        "<script>var x = 1;</script></head><body><h1>Head</h1><p>Para &amp; more</p>"
        "<div>x<br>y</div><noscript>hidden</noscript><p>a   b</p></body></html>"
    )
    expected = "T\n\nHead\n\nPara & more\n\nx\ny\n\na b"
    assert extract_text(write(tmp_path, "page.html", html), "page.html") == expected
    assert extract_text(write(tmp_path, "page.htm", html), "page.htm") == expected


def test_pdf(tmp_path: Path) -> None:
    path = write(tmp_path, "a.pdf", make_pdf(["Hello PDF world", "Second line"]))
    assert extract_text(path, "report.PDF") == "Hello PDF world\nSecond line"


def test_docx_paragraphs_and_tables_in_order(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Title here", 1)
    document.add_paragraph("First para.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "a", (0, 1): "b", (1, 0): "c", (1, 1): "d"}.items():
        table.cell(row, col).text = text
    document.add_paragraph("After table.")
    path = tmp_path / "c.docx"
    document.save(str(path))
    assert extract_text(path, "c.docx") == "Title here\nFirst para.\na\tb\nc\td\nAfter table."
    # Unknown extension: the content says DOCX.
    assert extract_text(path, "c.bin") == "Title here\nFirst para.\na\tb\nc\td\nAfter table."


def test_unknown_extension_is_sniffed(tmp_path: Path) -> None:
    assert extract_text(write(tmp_path, "x", "plain words\n"), "notes.weird") == "plain words\n"
    assert extract_text(write(tmp_path, "x", "plain words\n"), "noextension") == "plain words\n"
    pdf = write(tmp_path, "x", make_pdf(["Sniffed"]))
    assert extract_text(pdf, "scan.dat") == "Sniffed"
    html = write(tmp_path, "x", "<html><body><p>Hi</p></body></html>")
    assert extract_text(html, "page.view") == "Hi"


def test_binary_junk_is_unsupported(tmp_path: Path) -> None:
    junk = bytes(range(256)) * 4
    with pytest.raises(UnsupportedFileError, match="unsupported type") as caught:
        extract_text(write(tmp_path, "x", junk), "blob.bin")
    assert caught.value.code == "unsupported_file"
    with pytest.raises(UnsupportedFileError, match="binary"):
        extract_text(write(tmp_path, "x", junk), "claims.txt")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "is empty"),
        ("empty.pdf", b"", "is empty"),
        ("blank.md", b"  \n\t\n", "contains no text"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf", "not a readable PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "not a readable DOCX"),
        ("empty.html", b"<html><script>x()</script></html>", "contains no text"),
    ],
)
def test_invalid_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    with pytest.raises(InvalidFileError, match=message) as caught:
        extract_text(write(tmp_path, name, content), name)
    assert caught.value.code == "invalid_file"
    assert isinstance(caught.value, ExtractionError)
    assert name in caught.value.message


def test_pdf_without_text_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidFileError, match="contains no text"):
        extract_text(write(tmp_path, "x", make_pdf([])), "scan.pdf")
