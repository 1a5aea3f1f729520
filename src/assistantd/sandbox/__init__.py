"""code_interpreter sandbox: Jupyter kernels confined by bubblewrap, seccomp and cgroups."""

# A library (no FastAPI, no store): the composition root builds one `BubblewrapBackend` and one
# `SessionManager`, calls `await backend.probe()` once (a failed probe leaves the server up and
# makes every call fail fast with SandboxUnavailable and the probe's reason), then per tool call:
#
#     result = await manager.execute(thread_id, code, timeout=..., on_output=push_delta,
#                                    input_files=[InputFile(name, blob_path), ...])
#     for f in result.new_files:        # files the code created or changed under /mnt/data
#         data = await manager.read_output(thread_id, f.path)   # or copy_output(..., dest)
#     result.images                     # PNG bytes (plt.show(), display())
#
# User-code errors are results (`result.error`); SessionDied (state lost, next call starts a fresh
# session), SandboxUnavailable and SandboxBusy are the exceptions. `manager.close(thread_id)` when a
# thread is deleted, `manager.close_all()` then `backend.aclose()` at shutdown.

from assistantd.sandbox.backend import BubblewrapBackend
from assistantd.sandbox.errors import (
    InvalidInputFile,
    OutputFileError,
    SandboxBusy,
    SandboxError,
    SandboxUnavailable,
    SessionDied,
)
from assistantd.sandbox.interface import SandboxBackend, Session
from assistantd.sandbox.limits import SandboxLimits
from assistantd.sandbox.manager import SessionManager
from assistantd.sandbox.results import (
    DATA_DIR,
    ExecutionError,
    ExecutionResult,
    InputFile,
    OutputFile,
    ProbeResult,
)
from assistantd.sandbox.session import KernelSession

__all__ = [
    "DATA_DIR",
    "BubblewrapBackend",
    "ExecutionError",
    "ExecutionResult",
    "InputFile",
    "InvalidInputFile",
    "KernelSession",
    "OutputFile",
    "OutputFileError",
    "ProbeResult",
    "SandboxBackend",
    "SandboxBusy",
    "SandboxError",
    "SandboxLimits",
    "SandboxUnavailable",
    "Session",
    "SessionDied",
    "SessionManager",
]
