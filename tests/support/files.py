"""Helpers for the Files and vector-store contract tests: documents made in the test (text,
a hand-written PDF, DOCX), schema checks that know the spec's nullability gaps, polling, and
direct database access for what the API cannot do in a test (move a deadline into the past)."""

from __future__ import annotations

import inspect
import io
import struct
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import openai
from sqlalchemy import create_engine, text

from assistantd.store.database import sync_url
from tests.support.openapi import assert_all_properties_present, assert_matches_schema
from tests.support.server import ServerProcess

POLL_MS = 50

# Keys the spec declares non-nullable although the wire contract (and both SDK lines' models)
# has them null when unset: File `expires_at` / `status_details`, VectorStore `expires_after`.
FILE_NULLABLE = frozenset({"expires_at", "status_details"})
STORE_NULLABLE = frozenset({"expires_after"})


class RawResponse(Protocol):
    """What `with_raw_response` returns on both SDK lines (1.109.1 and 3.x)."""

    @property
    def http_response(self) -> Any: ...


def body(raw: RawResponse) -> dict[str, Any]:
    data = raw.http_response.json()
    assert isinstance(data, dict), data
    return data


def assert_object(
    instance: dict[str, Any], schema_name: str, *, nullable: frozenset[str] = frozenset()
) -> None:
    """Valid against the spec schema (keys in `nullable` may be null) and carrying every key
    the schema declares."""
    checked = {k: v for k, v in instance.items() if not (k in nullable and v is None)}
    assert_matches_schema(checked, schema_name)
    assert_all_properties_present(instance, schema_name)


def assert_file(instance: dict[str, Any]) -> None:
    assert_object(instance, "OpenAIFile", nullable=FILE_NULLABLE)


def assert_store(instance: dict[str, Any]) -> None:
    assert_object(instance, "VectorStoreObject", nullable=STORE_NULLABLE)


def assert_list(page: dict[str, Any], schema_name: str, item_schema: str) -> None:
    """A non-empty list envelope: schema-valid (with the items' nullability allowance), every
    item complete, and `first_id`/`last_id` naming the ends of `data`."""
    nullable = {"OpenAIFile": FILE_NULLABLE, "VectorStoreObject": STORE_NULLABLE}.get(
        item_schema, frozenset()
    )
    assert page["object"] == "list"
    assert page["data"], "check the schema of a non-empty page (the spec has no null ids)"
    data = [
        {k: v for k, v in item.items() if not (k in nullable and v is None)}
        for item in page["data"]
    ]
    assert_matches_schema({**page, "data": data}, schema_name)
    for item in page["data"]:
        assert_all_properties_present(item, item_schema)
    assert page["first_id"] == page["data"][0]["id"]
    assert page["last_id"] == page["data"][-1]["id"]


# --- documents ----------------------------------------------------------------------------


def _pdf_string(line: str) -> bytes:
    escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def make_pdf(lines: Sequence[str]) -> bytes:
    """A minimal valid one-page PDF (Helvetica text, one line per item) with a correct xref
    table: what a real PDF writer would produce, small enough to read."""
    ops = [b"BT", b"/F1 12 Tf", b"14 TL", b"72 720 Td"]
    for line in lines:
        ops += [_pdf_string(line) + b" Tj", b"T*"]
    ops.append(b"ET")
    stream = b"\n".join(ops)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """The text pypdf reads from `data`, strictly (a malformed xref would raise)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=True)
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def make_docx(paragraphs: Iterable[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- API shortcuts ------------------------------------------------------------------------


def upload(client: openai.OpenAI, name: str, data: bytes | str, purpose: str = "assistants") -> str:
    raw = data.encode() if isinstance(data, str) else data
    return client.files.create(file=(name, raw), purpose=purpose).id  # type: ignore[arg-type]


def new_store(client: openai.OpenAI, **fields: Any) -> str:
    return client.vector_stores.create(**fields).id


def tool_resources(client: openai.OpenAI) -> dict[str, Any]:
    """Both kinds of tool resources, naming a real file and a real vector store."""
    return {
        "code_interpreter": {"file_ids": [upload(client, "data.csv", b"a,b\n1,2\n")]},
        "file_search": {"vector_store_ids": [new_store(client)]},
    }


def create_batch_with_files(
    client: openai.OpenAI, store_id: str, files: list[dict[str, Any]]
) -> Any:
    """A file batch from `files=[...]` entries: a parameter on SDK 3.x; 1.109.1 requires
    `file_ids`, so the entries go in the body there."""
    create = client.vector_stores.file_batches.create
    if "files" in inspect.signature(create).parameters:
        return create(store_id, files=files)  # type: ignore[call-arg, arg-type, unused-ignore]
    return create(store_id, file_ids=openai.NOT_GIVEN, extra_body={"files": files})


def wait_for_store(client: openai.OpenAI, store_id: str, timeout: float = 120.0) -> Any:
    """The store once none of its files is in progress any more."""
    deadline = time.monotonic() + timeout
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.file_counts.in_progress == 0:
            return store
        assert time.monotonic() < deadline, f"store still ingesting after {timeout}s: {store}"
        time.sleep(POLL_MS / 1000)


def store_file_ids(client: openai.OpenAI, store_id: str, **params: Any) -> set[str]:
    return {f.id for f in client.vector_stores.files.list(store_id, limit=100, **params)}


def search_ids(
    client: openai.OpenAI, store_id: str, query: str | list[str], **params: Any
) -> list[str]:
    page = client.vector_stores.search(store_id, query=query, **params)
    return [hit.file_id for hit in page.data]


# --- the server's own storage -------------------------------------------------------------


def database_url(server: ServerProcess) -> str:
    return server.database_url or f"sqlite:///{server.data_dir / 'assistantd.sqlite3'}"


def run_sql(server: ServerProcess, statement: str, **params: Any) -> int:
    """Run one statement against the server's database; the number of rows it touched."""
    engine = create_engine(sync_url(database_url(server)))
    try:
        with engine.begin() as conn:
            return int(conn.execute(text(statement), params).rowcount)
    finally:
        engine.dispose()


def blob_files(server: ServerProcess) -> list[Path]:
    """The committed blobs: `<data_dir>/files/<2 chars>/<32-char key>`."""
    root = server.data_dir / "files"
    return sorted(p for p in root.glob("*/*") if p.is_file() and p.parent.name != "tmp")


# --- documents damaged inside a valid container -------------------------------------------


def _zip_member(data: bytes, name: str) -> zipfile.ZipInfo:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.getinfo(name)


def docx_with_bad_deflate() -> bytes:
    """A DOCX whose document.xml is a deflate stream that starts with a reserved block type."""
    data = bytearray(make_docx(["This paragraph was damaged in transit."]))
    info = _zip_member(bytes(data), "word/document.xml")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len] = 0xFF
    return bytes(data)


def docx_with_unknown_compression() -> bytes:
    """A DOCX whose document.xml claims compression method 98 (PPMd), which zipfile lacks."""
    stored = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["Packed oddly."]))) as source,
        zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as target,
    ):
        for name in source.namelist():
            target.writestr(name, source.read(name))
    data = bytearray(stored.getvalue())
    member = b"word/document.xml"
    info = _zip_member(bytes(data), member.decode())
    data[info.header_offset + 8 : info.header_offset + 10] = struct.pack("<H", 98)
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(member)] != member:
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 10 : entry + 12] = struct.pack("<H", 98)
    return bytes(data)


def docx_with_bad_content_types() -> bytes:
    """A DOCX whose [Content_Types].xml is well-formed XML of the wrong shape."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(make_docx(["Mislabelled parts."]))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for name in source.namelist():
            wrong = name == "[Content_Types].xml"
            target.writestr(name, b"<?xml version='1.0'?><x/>" if wrong else source.read(name))
    return out.getvalue()


def pdf_with_aes_encryption() -> bytes:
    """A PDF whose trailer declares AES-256 encryption (V5/R6)."""
    return make_pdf(["Encrypted secrets."]).replace(
        b"/Root 1 0 R >>",
        b"/Root 1 0 R /Encrypt << /Filter /Standard /V 5 /R 6 /Length 256 /O <00> /U <00> "
        b"/OE <00> /UE <00> /Perms <00> /P -4 >> /ID [<00> <00>] >>",
    )
