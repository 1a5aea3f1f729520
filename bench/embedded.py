"""Embedded model benchmark: load time, prompt and generation speed, and what a run adds over
raw llama-cpp-python generating the same tokens.

    python bench/embedded.py [--threads N] [--tokens 64] [--runs 5]

1. Raw llama-cpp-python on the packaged SmolLM2 GGUF: load time, prompt evaluation tokens/s
   (a fresh context each time) and generation tokens/s.
2. A real `assistantd serve` with no upstream (so the embedded model is the default route).
   Each round sends the same conversation both ways, greedy (temperature 0), in the same order
   so the KV-cache reuse is the same on both sides:
   - as a streamed run (timed from the create request to `thread.run.completed`);
   - to raw `Llama.generate` with the same chat template and sampling, stopped after the number
     of tokens the run reported.
   The overhead is median(run) / median(raw) - 1 (target: <= 5%). The text of both is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from assistantd.providers.embedded_turn import DEFAULT_TOP_P, TEXT_REPEAT_PENALTY
from assistantd.providers.model_file import packaged_gguf
from assistantd.settings import default_embedded_threads
from processes import free_port, stop, tail, wait_ready

INSTRUCTIONS = "You are a helpful assistant. Answer in full sentences."
QUESTION = "Round {i}: describe a lighthouse keeper's day, hour by hour."
PARAGRAPH = (
    "The harbour wakes before the sun. Fishing boats leave in a line, gulls follow them, and "
    "the lighthouse keeper writes the weather into a worn notebook. "
)


def load(path: Path, threads: int, ctx: int) -> tuple[Llama, float]:
    started = time.perf_counter()
    llm = Llama(
        model_path=str(path), n_ctx=ctx, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    return llm, time.perf_counter() - started


def prompt_speed(llm: Llama, tokens: int) -> float:
    prompt = llm.tokenize((PARAGRAPH * 40).encode(), add_bos=False)[:tokens]
    llm.reset()
    started = time.perf_counter()
    llm.eval(prompt)
    return len(prompt) / (time.perf_counter() - started)


def generation_speed(llm: Llama, tokens: int) -> float:
    llm.reset()
    prompt = llm.tokenize(b"Once upon a time", add_bos=False)
    first = 0.0
    for count, _ in enumerate(llm.generate(prompt, temp=0.0, repeat_penalty=TEXT_REPEAT_PENALTY)):
        if count == 0:
            first = time.perf_counter()  # the prompt is evaluated before the first token
        if count == tokens:
            break
    return tokens / (time.perf_counter() - first)


def chat_tokens(llm: Llama, question: str) -> list[int]:
    """The prompt the server builds for a one-message thread: instructions, then the user."""
    formatter = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=llm.detokenize([llm.token_eos()], special=True).decode(),
        bos_token=llm.detokenize([llm.token_bos()], special=True).decode(),
    )
    messages: Any = [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": question},
    ]
    rendered = formatter(messages=messages)
    return list(llm.tokenize(rendered.prompt.encode(), add_bos=False, special=True))


@dataclass
class Timing:
    """One answer: seconds to the first text and to the end, its text and token counts."""

    first_s: float = 0.0
    total_s: float = 0.0
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def raw_generation(llm: Llama, question: str, tokens: int) -> Timing:
    prompt = chat_tokens(llm, question)
    timing = Timing(prompt_tokens=len(prompt))
    pieces: list[bytes] = []
    started = time.perf_counter()
    for token in llm.generate(
        prompt, temp=0.0, top_p=DEFAULT_TOP_P, repeat_penalty=TEXT_REPEAT_PENALTY
    ):
        pieces.append(llm.detokenize([token]))
        if len(pieces) == 1:
            timing.first_s = time.perf_counter() - started
        if len(pieces) >= tokens:
            break
    timing.total_s = time.perf_counter() - started
    timing.text = b"".join(pieces).decode("utf-8", "replace")
    timing.completion_tokens = len(pieces)
    return timing


def timed_run(base_url: str, assistant_id: str, question: str) -> Timing:
    """One streamed run, read as raw SSE lines (the SDK's per-event parsing would compete with
    the model for the machine's cores)."""
    timing = Timing()
    with httpx.Client(base_url=base_url, timeout=300) as http:
        thread = http.post("/threads", json={"messages": [{"role": "user", "content": question}]})
        thread_id = thread.raise_for_status().json()["id"]
        body = {"assistant_id": assistant_id, "stream": True, "temperature": 0}
        text: list[str] = []
        event, final = "", None
        started = time.perf_counter()
        with http.stream("POST", f"/threads/{thread_id}/runs", json=body) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "thread.message.delta":
                    if not text:
                        timing.first_s = time.perf_counter() - started
                    text.append(json.loads(line[6:])["delta"]["content"][0]["text"]["value"])
                elif line.startswith("data: ") and event.startswith("thread.run."):
                    if event in ("thread.run.completed", "thread.run.incomplete"):
                        timing.total_s = time.perf_counter() - started
                        final = json.loads(line[6:])
                    elif event == "thread.run.failed":
                        raise RuntimeError(f"run failed: {line[6:]}")
    if final is None:
        raise RuntimeError("the run stream ended without its final event")
    timing.text = "".join(text)
    timing.prompt_tokens = final["usage"]["prompt_tokens"]
    timing.completion_tokens = final["usage"]["completion_tokens"]
    return timing


def start_server(
    port: int, data_dir: Path, threads: int, ctx: int, tokens: int
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
    env["ASSISTANTD_EMBEDDED_THREADS"] = str(threads)
    env["ASSISTANTD_EMBEDDED_CONTEXT_LENGTH"] = str(ctx)
    # The API's max_completion_tokens starts at 256; a shorter answer is the server's cap.
    env["ASSISTANTD_EMBEDDED_MAX_TOKENS"] = str(tokens)
    cmd = [sys.executable, "-m", "assistantd", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir)]
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_ready("server", process, f"http://127.0.0.1:{port}/v1/health")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=default_embedded_threads())
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=64, help="generated tokens per round")
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5, help="rounds (after one warm-up)")
    args = parser.parse_args()

    path = packaged_gguf()
    print(
        f"model {path.name} ({path.stat().st_size / 1e6:.0f} MB), {args.threads} thread(s), "
        f"context {args.ctx}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    llm, load_s = load(path, args.threads, args.ctx)
    _, reload_s = load(path, args.threads, args.ctx)
    print(f"load: {load_s:.2f} s first, {reload_s:.2f} s again (file in the page cache)")
    prompt_tps = statistics.median(prompt_speed(llm, args.prompt_tokens) for _ in range(3))
    gen_tps = statistics.median(generation_speed(llm, args.tokens) for _ in range(3))
    print(f"prompt: {prompt_tps:.0f} tokens/s ({args.prompt_tokens}-token prompt, fresh context)")
    print(f"generation: {gen_tps:.1f} tokens/s (greedy, {args.tokens} tokens)")

    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as folder:
        data_dir = Path(folder)
        port = free_port()
        server = start_server(port, data_dir, args.threads, args.ctx, args.tokens)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            created = httpx.post(
                f"{base_url}/assistants", json={"model": "gpt-4o", "instructions": INSTRUCTIONS}
            )
            assistant_id = created.raise_for_status().json()["id"]
            llm.reset()
            rounds: list[tuple[Timing, Timing]] = []
            for i in range(args.runs + 1):
                question = QUESTION.format(i=i)
                run = timed_run(base_url, assistant_id, question)
                raw = raw_generation(llm, question, run.completion_tokens)
                if i == 0:
                    print(f"warm-up run (loads the model in the server): {run.total_s:.2f} s")
                    continue
                rounds.append((run, raw))
                print(
                    f"round {i}: run {run.total_s * 1000:.0f} ms (first text "
                    f"{run.first_s * 1000:.0f} ms), raw {raw.total_s * 1000:.0f} ms (first "
                    f"{raw.first_s * 1000:.0f} ms); {run.prompt_tokens} prompt + "
                    f"{run.completion_tokens} generated tokens"
                )
        except Exception:
            print(f"server log tail:\n{tail(data_dir / 'server.log')}", file=sys.stderr)
            raise
        finally:
            stop("server", server, data_dir / "server.log", "Finished server process")
    run_total = statistics.median(run.total_s for run, _ in rounds)
    raw_total = statistics.median(raw.total_s for _, raw in rounds)
    run_first = statistics.median(run.first_s for run, _ in rounds)
    raw_first = statistics.median(raw.first_s for _, raw in rounds)
    print(
        f"run overhead over raw generation: {(run_total / raw_total - 1) * 100:+.1f}% "
        f"(median run {run_total * 1000:.0f} ms, raw {raw_total * 1000:.0f} ms; target <= 5%)"
    )
    print(
        f"first text: run {run_first * 1000:.0f} ms, raw {raw_first * 1000:.0f} ms "
        f"(+{(run_first - raw_first) * 1000:.0f} ms)"
    )
    same = sum(
        run.text == raw.text and run.prompt_tokens == raw.prompt_tokens for run, raw in rounds
    )
    print(f"same prompt and tokens both ways: {same} of {len(rounds)} rounds")


if __name__ == "__main__":
    main()
