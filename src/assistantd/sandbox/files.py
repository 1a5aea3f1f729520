"""The session's /mnt/data seen from the host: input copies in, changed files out."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from assistantd.sandbox.errors import InvalidInputFile, OutputFileError
from assistantd.sandbox.fsids import creating_as
from assistantd.sandbox.results import DATA_DIR, InputFile, OutputFile

# The folder is the sandbox's own tmpfs, reached through a descriptor of the sandbox's root; it
# is never a host folder. Every path is walked one component at a time without following
# symlinks, because the code in the sandbox controls what the folder contains.

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: FIFOs
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Stamp:
    """What identifies one version of a file."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


Snapshot = dict[str, Stamp]  # path relative to /mnt/data -> stamp


def check_input_name(name: str) -> None:
    """Input files live directly in /mnt/data under a plain file name."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\0" in name
        or len(name.encode("utf-8", "surrogateescape")) > 255
    ):
        raise InvalidInputFile(f"invalid input file name for {DATA_DIR}: {name!r}")


class DataFolder:
    """/mnt/data of one session, through a directory descriptor owned by this object. `owner`
    is the host (uid, gid) of the sandbox's user when it is not the server's: input copies are
    created as that user, the only owner the sandbox's tmpfs accepts."""

    def __init__(
        self,
        sandbox_root: str,
        *,
        max_files: int,
        max_depth: int,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self._fd = os.open(sandbox_root + DATA_DIR, _DIR_FLAGS)
        self._max_files = max_files
        self._max_depth = max_depth
        self._owner = owner

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # Reading the tree.

    def _walk(self, dir_fd: int, prefix: str, depth: int) -> Iterator[tuple[str, os.stat_result]]:
        with os.scandir(dir_fd) as entries:
            children = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
        for name, st in children:
            rel = f"{prefix}{name}"
            if stat.S_ISREG(st.st_mode):
                yield rel, st
            elif stat.S_ISDIR(st.st_mode) and depth < self._max_depth:
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue  # replaced or removed meanwhile
                try:
                    yield from self._walk(child, rel + "/", depth + 1)
                finally:
                    os.close(child)

    def snapshot(self) -> Snapshot:
        """Regular files under /mnt/data (at most a bounded number, for bounded work)."""
        found: Snapshot = {}
        # Walk a few times more files than are reported, so that reports stay right when the
        # code keeps many files, while a folder of millions costs bounded work.
        for rel, st in self._walk(self._fd, "", 1):
            found[rel] = Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            if len(found) >= self._max_files * 4:
                break
        return found

    def changes(self, before: Snapshot, after: Snapshot) -> list[OutputFile]:
        """Files created or modified between two snapshots, newest first, bounded."""
        changed = [
            (stamp.mtime_ns, rel, stamp.size)
            for rel, stamp in after.items()
            if before.get(rel) != stamp
        ]
        changed.sort(reverse=True)
        return [
            OutputFile(path=f"{DATA_DIR}/{rel}", size=size)
            for _, rel, size in changed[: self._max_files]
        ]

    # Opening one file.

    def _open_file(self, path: str) -> int:
        rel = path.removeprefix(DATA_DIR + "/") if path.startswith(DATA_DIR + "/") else path
        parts = rel.split("/")
        if not rel or any(part in ("", ".", "..") for part in parts):
            raise OutputFileError(f"not a file path under {DATA_DIR}: {path!r}")
        dir_fd = self._fd
        try:
            for part in parts[:-1]:
                child = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
                if dir_fd != self._fd:
                    os.close(dir_fd)
                dir_fd = child
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            raise OutputFileError(f"{path}: {os.strerror(exc.errno or errno.EIO)}") from exc
        finally:
            if dir_fd != self._fd:
                os.close(dir_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OutputFileError(f"{path}: not a regular file")
        return fd

    def read(self, path: str, max_bytes: int | None = None) -> bytes:
        fd = self._open_file(path)
        with os.fdopen(fd, "rb") as src:
            data = src.read() if max_bytes is None else src.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise OutputFileError(f"{path}: larger than {max_bytes} bytes")
        return data

    def copy_to(self, path: str, dest: Path) -> int:
        """Copy a file out to a host path; the number of bytes copied."""
        fd = self._open_file(path)
        with os.fdopen(fd, "rb") as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, _COPY_CHUNK)
            return out.tell()

    # Writing inputs.

    def add(self, file: InputFile) -> Stamp:
        """Copy an input file in (replacing any file of that name); its new stamp."""
        check_input_name(file.name)
        temp = f".assistantd-{secrets.token_hex(8)}"
        try:
            # The source is a host file: opened as the server, before any identity switch.
            source = file.source if isinstance(file.source, bytes) else file.source.open("rb")
        except OSError as exc:
            raise InvalidInputFile(f"{file.name}: could not copy it in: {exc}") from exc
        try:
            self._copy_in(source, temp, file)
        finally:
            if not isinstance(source, bytes):
                source.close()
        st = os.stat(file.name, dir_fd=self._fd, follow_symlinks=False)
        return Stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    def _copy_in(self, source: bytes | BinaryIO, temp: str, file: InputFile) -> None:
        try:
            with creating_as(self._owner):
                fd = os.open(
                    temp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o444,  # inputs appear read-only, as the hosted tool's did; our fd writes
                    dir_fd=self._fd,
                )
                with os.fdopen(fd, "wb") as out:
                    if isinstance(source, bytes):
                        out.write(source)
                    else:
                        shutil.copyfileobj(source, out, _COPY_CHUNK)
                # rename() replaces a file or a symlink of that name, never follows it.
                os.rename(temp, file.name, src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError), creating_as(self._owner):
                os.unlink(temp, dir_fd=self._fd)
            if exc.errno == errno.ENOSPC:
                raise InvalidInputFile(f"{file.name}: no room left in {DATA_DIR}") from exc
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise InvalidInputFile(f"{file.path} is a folder in the session") from exc
            raise InvalidInputFile(f"{file.name}: could not copy it in: {exc}") from exc
