"""code_interpreter sandbox: Jupyter kernels confined by bubblewrap, seccomp and cgroups.

A library: the engine builds one `BubblewrapBackend` and one `SessionManager` at start-up,
probes, and runs code per thread with `SessionManager.execute`.
"""

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
