"""Files: uploads streamed into the blob store, listing, download, expiry and deletion.

Deleting a file also detaches it from every vector store (its chunks go with it), in the same
transaction; the bytes are removed only after that commit, so a crash never leaves a file row
pointing at missing bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from assistantd.clock import Clock
from assistantd.errors import InvalidRequestError, NotFoundError, not_found
from assistantd.service.caller import Caller
from assistantd.service.listing import cursor_errors, to_list
from assistantd.store import files as file_store
from assistantd.store import objects
from assistantd.store import vector_stores as vs_store
from assistantd.store.blobs import Blob, BlobStore, BlobTooLarge, BlobWriter
from assistantd.store.database import Database
from assistantd.store.pagination import PageRequest
from assistantd.wire.base import Deleted, ListPage
from assistantd.wire.files import MAX_FILE_BYTES, File, FileListQuery, FileUploadForm, file_from_row

log = logging.getLogger("assistantd.files")

MAX_FILENAME_CHARS = 1024


def too_large(limit: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"File too large: the limit is {limit} bytes ({limit // (1024 * 1024)} MB).",
        param="file",
        code="file_too_large",
    )


class Upload:
    """The bytes of one upload on their way into the blob store."""

    def __init__(self, writer: BlobWriter) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
        except BlobTooLarge as exc:
            self._writer.abort()
            raise too_large(exc.limit) from exc

    def commit(self) -> Blob:
        return self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()


@dataclass(frozen=True)
class FileContent:
    filename: str
    size: int
    chunks: Iterator[bytes]


def clean_filename(name: str | None) -> str:
    """A filename as data: the last path component, no control characters, bounded length."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        base = "upload"
    return base[:MAX_FILENAME_CHARS]


class FileService:
    def __init__(
        self, db: Database, blobs: BlobStore, clock: Clock, max_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._clock = clock
        self._table = objects.files
        self.max_bytes = max_bytes

    def open_upload(self) -> Upload:
        return Upload(self._blobs.writer(self.max_bytes))

    def check_declared_size(self, content_length: int) -> None:
        """Refuse an upload whose declared body cannot fit, before reading any of it (the
        form's other fields and boundaries take well under a mebibyte)."""
        if content_length > self.max_bytes + 1024 * 1024:
            raise too_large(self.max_bytes)

    async def create(
        self,
        caller: Caller,
        upload: Upload,
        filename: str | None,
        form: FileUploadForm,
    ) -> File:
        """Store a completed upload."""
        if (form.expires_after_anchor is None) != (form.expires_after_seconds is None):
            upload.abort()
            raise InvalidRequestError(
                "Invalid 'expires_after': give both anchor and seconds.", param="expires_after"
            )
        blob = upload.commit()
        now = self._clock()
        expires_at = (
            now + form.expires_after_seconds if form.expires_after_seconds is not None else None
        )
        row = file_store.file_row(
            caller.project_id,
            blob,
            clean_filename(filename),
            form.purpose,
            now,
            expires_at,
        )
        await file_store.insert_file(self._db, self._blobs, row)
        log.info(
            "request_id=%s file_id=%s stored %d bytes", caller.request_id, row["id"], blob.size
        )
        return file_from_row(row)

    async def get(self, caller: Caller, file_id: str) -> File:
        async with self._db.read() as conn:
            row = await self._table.get(conn, caller.project_id, file_id)
        if row is None or self._expired(row["expires_at"]):
            raise not_found("file", file_id)
        return file_from_row(row)

    async def list(self, caller: Caller, query: FileListQuery) -> ListPage[File]:
        now = self._clock()
        request = PageRequest(limit=query.limit, order=query.order, after=query.after)
        async with cursor_errors(), self._db.read() as conn:
            page = await file_store.page_live_files(
                conn, caller.project_id, request, purpose=query.purpose, now=now
            )
        return to_list(page, file_from_row)

    async def content(self, caller: Caller, file_id: str) -> FileContent:
        async with self._db.read() as conn:
            row = await self._table.get(conn, caller.project_id, file_id)
        if row is None or self._expired(row["expires_at"]):
            raise not_found("file", file_id)
        return FileContent(
            filename=row["filename"],
            size=row["bytes"],
            chunks=self._blobs.read_chunks(row["blob_key"]),
        )

    async def delete(self, caller: Caller, file_id: str) -> Deleted:
        async with self._db.write() as conn:
            row = await self._table.get(conn, caller.project_id, file_id)
            if row is None:
                raise not_found("file", file_id)
            await vs_store.detach_file_everywhere(conn, caller.project_id, file_id)
            await self._table.delete(conn, caller.project_id, file_id)
        self._blobs.delete(row["blob_key"])
        return Deleted(id=file_id, object="file")

    async def delete_expired(self) -> int:
        """Remove files past their `expires_at` (called by the periodic sweeper)."""
        now = self._clock()
        async with self._db.read() as conn:
            expired = await file_store.expired_files(conn, now)
        for row in expired:
            caller = Caller(project_id=row["project_id"], key_id=None, request_id="sweeper")
            try:
                await self.delete(caller, row["id"])
            except NotFoundError:
                continue  # deleted meanwhile
        return len(expired)

    def _expired(self, expires_at: int | None) -> bool:
        return expires_at is not None and expires_at <= self._clock()
