"""Build assistantd's wheel with the embedded model inside (about 100 MB), so that a plain
`pip install` of it (or `pipx install`) serves runs and file_search with no other step.

It fetches the GGUF if needed (fetch_model.py), builds from a clean copy of the checkout's
files (so nothing stale under build/ slips in), and checks that the wheel carries the model
files. Usage: python tools/build_wheel.py [--out DIR]   (default: dist/)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from fetch_model import ROOT, fetch

# What a working install needs besides the code.
REQUIRED_MEMBERS = (
    "assistantd/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "assistantd/retrieval/minilm/tokenizer.json",
    "assistantd/store/migrations/script.py.mako",
)


def checkout_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files, as `git` sees the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name and (ROOT / name).is_file()]


def build(out: Path) -> Path:
    model = fetch()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print("==> building the wheel (copies the 98 MB model into it, ~10 s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="assistantd-build-") as tmp:
        source = Path(tmp) / "src"
        copies = [(ROOT / name, source / name) for name in checkout_files()]
        copies.append((model, source / model.relative_to(ROOT)))  # git ignores it
        for original, copy in copies:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(original, copy)
        wheels = Path(tmp) / "wheels"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels)]
        subprocess.run([*command, str(source)], check=True)
        (built,) = wheels.glob("assistantd-*.whl")
        with zipfile.ZipFile(built) as archive:
            missing = set(REQUIRED_MEMBERS) - set(archive.namelist())
        if missing:
            raise SystemExit(f"{built.name} lacks {', '.join(sorted(missing))}")
        wheel = out / built.name
        shutil.move(built, wheel)
    size = wheel.stat().st_size / 1e6
    took = time.monotonic() - started
    print(f"    built {wheel} ({size:.0f} MB) in {took:.0f} s", flush=True)
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the wheel goes")
    build(parser.parse_args().out.resolve())


if __name__ == "__main__":
    main()
