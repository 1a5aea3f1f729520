"""Text extraction from uploaded files (plain text, markup, code, PDF, DOCX), chosen by extension.

Errors carry the vector-store-file `last_error` code: `unsupported_file` or `invalid_file`.
"""

from __future__ import annotations

import codecs
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from docx.table import Table

# Text files are decoded incrementally so the raw bytes and the decoded text never coexist whole.
_READ_BLOCK: Final = 1 << 20
_SNIFF_BYTES: Final = 64 * 1024

TEXT_EXTENSIONS: Final = frozenset(
    {
        "txt", "text", "md", "markdown", "rst", "json", "jsonl", "csv", "tsv", "log", "ini",
        "cfg", "toml", "conf", "yaml", "yml", "xml", "tex", "bib", "py", "pyi", "js", "mjs",
        "cjs", "jsx", "ts", "tsx", "java", "kt", "scala", "c", "cc", "cpp", "cxx", "h", "hh",
        "hpp", "cs", "go", "rs", "rb", "php", "pl", "swift", "m", "r", "lua", "sh", "bash",
        "zsh", "ps1", "bat", "sql", "css", "scss", "less", "vue", "svelte", "dart", "hs",
        "ex", "exs", "erl", "clj", "groovy", "gradle", "proto", "graphql",
        "mk", "cmake", "properties", "env", "diff", "patch", "srt", "vtt",
    }
)  # fmt: skip
HTML_EXTENSIONS: Final = frozenset({"html", "htm", "xhtml"})
# Files known by their whole name rather than a suffix.
TEXT_NAMES: Final = frozenset({"dockerfile", "makefile", "readme", "license", "changelog"})
SUPPORTED_EXTENSIONS: Final = TEXT_EXTENSIONS | HTML_EXTENSIONS | {"pdf", "docx"}


class ExtractionError(Exception):
    """A file whose text cannot be used; `code` is the vector-store-file `last_error` code."""

    code = "invalid_file"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFileError(ExtractionError):
    code = "unsupported_file"


class InvalidFileError(ExtractionError):
    code = "invalid_file"


def extract_text(path: Path, filename: str) -> str:
    """The text of the file at `path`; `filename` (the uploaded name) decides the format."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidFileError(f"File {filename!r} is empty.")
    extension = _extension(filename)
    extractor = _EXTRACTORS.get(extension)
    if extractor is None:
        extractor = _sniff(path, filename)
    text = extractor(path, filename)
    if not text.strip():
        raise InvalidFileError(f"File {filename!r} contains no text.")
    return text


def _extension(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].lower()
    if "." not in name:
        return "txt" if name in TEXT_NAMES else ""
    return name.rsplit(".", 1)[1]


def _sniff(path: Path, filename: str) -> Callable[[Path, str], str]:
    """Pick an extractor from the content for a name with an unknown extension."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(b"%PDF-"):
        return _pdf
    if head.startswith(b"PK\x03\x04") and _is_docx(path):
        return _docx
    if _looks_like_text(head):
        return _html if _looks_like_html(head) else _plain
    raise UnsupportedFileError(
        f"File {filename!r} has an unsupported type; supported extensions are: "
        + ", ".join(sorted(SUPPORTED_EXTENSIONS))
        + "."
    )


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if b"\x00" in head:
        return False
    try:
        # A multibyte character may straddle the end of the sample: an incremental decoder
        # accepts that, a plain decode would not.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_html(head: bytes) -> bool:
    start = head[:1024].lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _plain(path: Path, filename: str) -> str:
    return "".join(_decoded_blocks(path, filename))


def _decoded_blocks(path: Path, filename: str) -> list[str]:
    """The file decoded as UTF-8 (BOM-aware, UTF-16 with a BOM) or, failing that, Windows-1252."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in head:
        raise UnsupportedFileError(f"File {filename!r} is binary, not text.")
    else:
        encoding = "utf-8-sig"
    try:
        return _decode_file(path, encoding)
    except UnicodeDecodeError:
        if encoding != "utf-8-sig":
            raise InvalidFileError(f"File {filename!r} is not valid UTF-16 text.") from None
    # Legacy single-byte text is still common; binary data shows up as control characters.
    blocks = _decode_file(path, "cp1252", errors="replace")
    if any(_has_binary_controls(block) for block in blocks):
        raise UnsupportedFileError(f"File {filename!r} is binary, not text.")
    return blocks


_CONTROL_CHARS: Final = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r", "\f", "\x0b"}


def _has_binary_controls(block: str) -> bool:
    return not _CONTROL_CHARS.isdisjoint(block)


def _decode_file(path: Path, encoding: str, errors: str = "strict") -> list[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    blocks: list[str] = []
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            blocks.append(decoder.decode(block))
        blocks.append(decoder.decode(b"", final=True))
    return blocks


class _TextOfHtml(HTMLParser):
    """Collects visible text; block-level tags become line breaks so words do not run together."""

    _SKIP: Final = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK: Final = frozenset(
        {
            "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header",
            "footer", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr", "dt", "dd",
            "title", "main", "nav", "aside", "figure", "figcaption", "form", "td", "th",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            # The title is inside <head>, which is otherwise skipped, but it is real content.
            self._in_title = True
        elif tag in self._SKIP:
            self._skip_depth += 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title or not self._skip_depth:
            self.parts.append(data)


def _html(path: Path, filename: str) -> str:
    parser = _TextOfHtml()
    for block in _decoded_blocks(path, filename):
        parser.feed(block)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    """Collapse the whitespace runs that markup leaves behind, keeping paragraph breaks."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    out: list[str] = []
    blank = False
    for line in lines:
        if line:
            if blank and out:
                out.append("")
            out.append(line)
            blank = False
        else:
            blank = True
    return "\n".join(out)


def _pdf(path: Path, filename: str) -> str:
    # Imported here: pypdf is only needed for PDFs and takes a while to import.
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidFileError(f"File {filename!r} is an encrypted PDF.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InvalidFileError:
        raise
    except Exception as exc:  # noqa: BLE001 (a damaged file raises anything; retrying can't help)
        # pypdf reports damaged files through many exception types; the text of some names the
        # server's own path, so only the type is kept.
        kind = "encrypted" if "crypt" in type(exc).__name__.lower() else "damaged"
        raise InvalidFileError(f"File {filename!r} is not a readable PDF ({kind}).") from None
    return "\n\n".join(page.strip() for page in pages if page.strip())


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _docx(path: Path, filename: str) -> str:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
        parts: list[str] = []
        # Body order matters: a table between two paragraphs belongs there in the text.
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                parts.append(block.text)
            elif isinstance(block, Table):
                parts.extend(_table_rows(block))
    except Exception:  # noqa: BLE001 (a damaged file raises anything; retrying can't help)
        # python-docx's messages name the server's own path: say what, not where.
        raise InvalidFileError(f"File {filename!r} is not a readable DOCX document.") from None
    return "\n".join(parts)


def _table_rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            # Merged cells repeat the same cell object across the span.
            text = cell.text.strip()
            if not cells or cells[-1] != text:
                cells.append(text)
        rows.append("\t".join(cells))
    return rows


_EXTRACTORS: Final[dict[str, Callable[[Path, str], str]]] = {
    **dict.fromkeys(TEXT_EXTENSIONS, _plain),
    **dict.fromkeys(HTML_EXTENSIONS, _html),
    "pdf": _pdf,
    "docx": _docx,
}
