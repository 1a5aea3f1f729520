"""The embedded model's runtime: what a loaded GGUF model offers the provider, and which
llama.cpp binding loads it: cyllama's prebuilt wheel by default, llama-cpp-python (compiled
from source for CPUs the wheel does not support) when chosen or when cyllama is absent."""

from __future__ import annotations

import importlib.util
import platform
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

Runtime = Literal["auto", "cyllama", "llama-cpp-python"]
RUNTIMES: tuple[Runtime, ...] = ("auto", "cyllama", "llama-cpp-python")
# cyllama's wheels are built for x86-64-v3; on an older CPU llama.cpp dies of SIGILL.
CYLLAMA_X86_FLAGS = frozenset({"avx2", "fma", "f16c"})
SOURCE_BUILD_HINT = (
    "install the runtime built from source for this CPU (pip install "
    "'assistantd[llama-cpp-python]', which compiles llama.cpp for about 10 minutes) and set "
    "ASSISTANTD_EMBEDDED_RUNTIME=llama-cpp-python"
)


class ModelLoadError(Exception):
    """llama.cpp could not load the GGUF file, or no usable runtime is installed."""


class GrammarError(ValueError):
    """llama.cpp rejected a grammar; sampling under it would crash the process."""


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_tokens: int
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0


@dataclass
class Generation:
    """How a generation ended; filled in as it runs."""

    completion_tokens: int = 0
    finish_reason: str = "stop"
    cached_tokens: int = 0  # prompt tokens the context still held (0 if the runtime can't say)


class LlamaModel(Protocol):
    """One loaded GGUF model with its context (KV cache). Synchronous and single-threaded by
    contract: the provider calls it from one worker thread, one generation at a time."""

    path: Path

    @property
    def n_ctx(self) -> int: ...

    def chat_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The prompt tokens of a conversation (role and string content per message), ending
        where the assistant's answer starts."""
        ...

    def generate(
        self,
        tokens: Sequence[int],
        sampling: Sampling,
        grammar: str | None,
        result: Generation,
        stop_requested: Callable[[], bool],
    ) -> Iterator[str]:
        """Yield the answer's text as tokens are sampled; `result` tells how it ended. Raises
        GrammarError before sampling if llama.cpp cannot parse `grammar`."""
        ...

    def close(self) -> None: ...


def load_model(path: Path, *, n_ctx: int, n_threads: int, runtime: Runtime = "auto") -> LlamaModel:
    """Load the GGUF file on the chosen runtime; ModelLoadError says what went wrong."""
    chosen = choose_runtime(runtime, _has_module, cpu_flags())
    try:
        if chosen == "cyllama":
            from assistantd.providers.cyllama_model import CyllamaModel

            return CyllamaModel.load(path, n_ctx=n_ctx, n_threads=n_threads)
        from assistantd.providers.llama_cpp_python_model import LlamaCppPythonModel

        return LlamaCppPythonModel.load(path, n_ctx=n_ctx, n_threads=n_threads)
    except ImportError as exc:
        raise ModelLoadError(
            f"The embedded model's runtime {chosen} is not installed ({exc})."
        ) from exc


def choose_runtime(
    runtime: Runtime, installed: Callable[[str], bool], flags: frozenset[str] | None
) -> Literal["cyllama", "llama-cpp-python"]:
    """`auto` is cyllama unless it is missing or the CPU lacks what its wheel needs (`flags`
    None: unknown, assumed fine) and llama-cpp-python is there. An explicit cyllama on such
    a CPU fails here rather than killing the server on its first instruction."""
    lacking = sorted(CYLLAMA_X86_FLAGS - flags) if flags is not None else []
    if runtime == "auto":
        has_fallback = installed("llama_cpp")
        if has_fallback and (lacking or not installed("cyllama")):
            return "llama-cpp-python"
        runtime = "cyllama"
    if runtime == "cyllama" and lacking:
        raise ModelLoadError(
            f"This CPU lacks {', '.join(lacking)}, which the prebuilt llama.cpp runtime "
            f"(cyllama) needs: {SOURCE_BUILD_HINT}."
        )
    return runtime


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The x86-64 CPU's feature flags on Linux; None elsewhere or when unreadable."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
