"""Real files and vector stores for tests whose objects must point at existing ones."""

from __future__ import annotations

from typing import Any

import openai


def upload(client: openai.OpenAI, name: str = "notes.txt", data: bytes | None = None) -> str:
    content = data if data is not None else f"Some notes kept in {name}.".encode()
    return client.files.create(file=(name, content), purpose="assistants").id


def new_store(client: openai.OpenAI, **fields: Any) -> str:
    return client.vector_stores.create(**fields).id


def tool_resources(client: openai.OpenAI) -> dict[str, Any]:
    """Both kinds of tool resources, naming a real file and a real vector store."""
    return {
        "code_interpreter": {"file_ids": [upload(client, "data.csv", b"a,b\n1,2\n")]},
        "file_search": {"vector_store_ids": [new_store(client)]},
    }


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF whose text layer holds `lines` (ASCII), with a correct xref table."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    text = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
