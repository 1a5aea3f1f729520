"""What the engine relies on: a backend that starts sessions and a session that runs code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from assistantd.sandbox.results import ExecutionResult, InputFile, ProbeResult


class Session(Protocol):
    """A live interpreter whose state persists between calls."""

    @property
    def alive(self) -> bool: ...

    @property
    def busy(self) -> bool: ...

    async def execute(
        self, code: str, *, timeout: float, on_output: Callable[[str], None] | None = None
    ) -> ExecutionResult: ...

    async def add_files(self, files: Sequence[InputFile], *, replace: bool = False) -> None: ...

    async def read_output(self, path: str, *, max_bytes: int | None = None) -> bytes: ...

    async def copy_output(self, path: str, dest: Path) -> int: ...

    async def close(self) -> None: ...


class SandboxBackend(Protocol):
    """Starts sessions; `probe()` tells whether it can, and why not."""

    async def probe(self) -> ProbeResult: ...

    async def start_session(
        self, session_dir: Path, input_files: Sequence[InputFile] = ()
    ) -> Session: ...

    async def aclose(self) -> None: ...
