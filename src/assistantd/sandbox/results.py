"""Plain values crossing the package boundary: input files, execution results, probe results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = "/mnt/data"


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file to place at /mnt/data/<name>: a host path (copied) or the bytes themselves."""

    name: str
    source: Path | bytes

    @property
    def path(self) -> str:
        return f"{DATA_DIR}/{self.name}"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A regular file under /mnt/data that a call created or modified."""

    path: str  # as the code sees it: /mnt/data/plots/a.png
    size: int

    @property
    def name(self) -> str:
        """The path relative to /mnt/data."""
        return self.path.removeprefix(DATA_DIR + "/")


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """An exception raised by the user's code (a normal outcome of a call)."""

    ename: str
    evalue: str


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What one call produced. `logs` reads like a terminal: stdout, stderr, the value of the
    last expression and the traceback, without colour codes."""

    logs: str
    images: list[bytes] = field(default_factory=list)  # PNG files
    error: ExecutionError | None = None
    timed_out: bool = False
    new_files: list[OutputFile] = field(default_factory=list)
    logs_truncated: bool = False


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Whether sessions can start here; `reason` says why not, or which limits apply."""

    available: bool
    reason: str
