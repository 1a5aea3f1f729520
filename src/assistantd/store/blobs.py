"""File bytes on local disk, under keys the server makes up (a user's filename is never a path).

A blob is written to a temporary file in the store's own folder and renamed into place only
when complete, so a crash or an aborted upload never leaves a half-written blob under a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class BlobTooLarge(Exception):
    """The bytes written passed the writer's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Blob:
    key: str
    size: int
    sha256: str


class BlobWriter:
    """Receives the bytes of one blob; `commit()` makes it visible, `abort()` forgets it."""

    def __init__(self, store: BlobStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        self.key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))
        self._tmp = store.root / "tmp" / f"{self.key}.part"
        self._file: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115 (closed in commit/abort)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._file is not None, "writer already closed"
        self.size += len(data)
        if self.size > self._limit:
            raise BlobTooLarge(self._limit)
        self._hash.update(data)
        self._file.write(data)

    def commit(self) -> Blob:
        assert self._file is not None, "writer already closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self._store.path_of(self.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, final)
        return Blob(key=self.key, size=self.size, sha256=self._hash.hexdigest())

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


class BlobStore:
    """A folder of blobs: `<root>/<key[:2]>/<key>`, plus `<root>/tmp` for writes in flight."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def writer(self, limit: int) -> BlobWriter:
        return BlobWriter(self, limit)

    def path_of(self, key: str) -> Path:
        if len(key) != 32 or any(ch not in _KEY_ALPHABET for ch in key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def open(self, key: str) -> BinaryIO:
        return open(self.path_of(key), "rb")

    def read_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self.open(key) as handle:
            while block := handle.read(chunk_size):
                yield block

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(key).unlink()

    def clear_partial(self, older_than_seconds: float = 86_400) -> None:
        """Remove writes that a crash interrupted. Only old ones: another process sharing the
        folder may be receiving an upload right now."""
        cutoff = time.time() - older_than_seconds
        for part in (self.root / "tmp").glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()
