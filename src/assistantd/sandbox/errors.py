"""Typed exceptions of the sandbox package; errors in user code are results, never these."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every exception the sandbox package raises on purpose."""


class SandboxUnavailable(SandboxError):
    """No session can be started: bubblewrap, namespaces or the sandbox Python are missing,
    or a kernel did not come up."""


class SandboxBusy(SandboxError):
    """Every session slot is taken by a session that is running code right now."""


class InvalidInputFile(SandboxError, ValueError):
    """An input file's name cannot live directly in /mnt/data, or the file does not fit there."""


class OutputFileError(SandboxError):
    """An output path does not name a regular file inside /mnt/data."""


class SessionDied(SandboxError):
    """The session's kernel is gone (killed, out of memory, deadline not honoured); its state is
    lost and the next call needs a new session. `logs` holds what the call printed before."""

    def __init__(self, reason: str, *, logs: str = "", timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs
        self.timed_out = timed_out
