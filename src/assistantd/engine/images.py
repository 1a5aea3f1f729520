"""`image_file` content parts reach the model as data URLs made from the uploaded file's bytes
(what every OpenAI-compatible upstream accepts), read when a turn's prompt is built."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from assistantd.store import files as file_store
from assistantd.store.blobs import BlobStore
from assistantd.store.database import Database

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MIME_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


def image_file_ids(rows: Iterable[Mapping[Any, Any]]) -> list[str]:
    found: list[str] = []
    for row in rows:
        for part in row["content"]:
            if part.get("type") == "image_file" and part["image_file"]["file_id"] not in found:
                found.append(part["image_file"]["file_id"])
    return found


def mime_type(filename: str, head: bytes) -> str | None:
    """From the bytes when they say (PNG, JPEG, GIF, WebP), else from the file name."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return MIME_TYPES.get(filename.rsplit(".", 1)[-1].lower())


class ImageLoader:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self._db = db
        self._blobs = blobs

    async def data_urls(self, project_id: str, file_ids: list[str]) -> dict[str, str]:
        """Data URLs of the files that exist, are images, and are not too big."""
        if not file_ids:
            return {}
        async with self._db.read() as conn:
            rows = await file_store.blob_files(conn, project_id, file_ids)
        urls: dict[str, str] = {}
        for row in rows:
            if row["bytes"] > MAX_IMAGE_BYTES:
                continue
            with self._blobs.open(row["blob_key"]) as handle:
                data = handle.read()
            mime = mime_type(row["filename"], data[:16])
            if mime is not None:
                urls[row["id"]] = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        return urls
