"""Per-thread filesystem uid/gid, to create files in a session's tmpfs as the session's user."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator

# A session's tmpfs belongs to its user namespace, where the server's root is not mapped when
# the sandbox runs as another uid: the kernel refuses to create an inode there for an unmapped
# owner (EOVERFLOW). setfsuid/setfsgid change the calling thread only (Linux credentials are
# per thread, and glibc does not broadcast these two), so a worker thread can create files as
# the session's user for a moment while the rest of the server stays root.

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _switch(call: ctypes._NamedFuncPointer, value: int) -> int:
    previous = int(call(value))
    if int(call(-1)) != value:  # these calls report failure only through this read-back
        call(previous)
        raise PermissionError(f"could not switch the filesystem id to {value}")
    return previous


@contextlib.contextmanager
def creating_as(owner: tuple[int, int] | None) -> Iterator[None]:
    """Within the block, files this thread creates belong to `owner` (uid, gid); None: no
    change. Only for short blocks that neither await nor start threads (a new thread would
    inherit the switched ids)."""
    if owner is None:
        yield
        return
    uid, gid = owner
    old_gid = _switch(_libc.setfsgid, gid)
    try:
        old_uid = _switch(_libc.setfsuid, uid)
        try:
            yield
        finally:
            _libc.setfsuid(old_uid)
    finally:
        _libc.setfsgid(old_gid)
