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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
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


def raw_generation(llm: Llama, question: str, tokens: int) -> tuple[float, str, int]:
    prompt = chat_tokens(llm, question)
    pieces: list[bytes] = []
    started = time.perf_counter()
    for token in llm.generate(
        prompt, temp=0.0, top_p=DEFAULT_TOP_P, repeat_penalty=TEXT_REPEAT_PENALTY
    ):
        pieces.append(llm.detokenize([token]))
        if len(pieces) >= tokens:
            break
    elapsed = time.perf_counter() - started
    return elapsed, b"".join(pieces).decode("utf-8", "replace"), len(prompt)


def timed_run(
    client: openai.OpenAI, assistant_id: str, question: str, max_tokens: int
) -> tuple[float, str, int, int]:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
    text: list[str] = []
    started = time.perf_counter()
    stream = client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant_id,
        stream=True,
        temperature=0,
        max_completion_tokens=max_tokens,
    )
    elapsed, usage = None, None
    for event in stream:
        if event.event == "thread.message.delta":
            for part in event.data.delta.content or []:
                if part.type == "text" and part.text and part.text.value:
                    text.append(part.text.value)
        elif event.event in ("thread.run.completed", "thread.run.incomplete"):
            elapsed = time.perf_counter() - started
            usage = event.data.usage
        elif event.event == "thread.run.failed":
            raise RuntimeError(f"run failed: {event.data.last_error}")
    if elapsed is None or usage is None:
        raise RuntimeError("the run stream ended without its final event")
    return elapsed, "".join(text), usage.prompt_tokens, usage.completion_tokens


def start_server(port: int, data_dir: Path, threads: int, ctx: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANTD_", "OPENAI_"))}
    env["ASSISTANTD_EMBEDDED_THREADS"] = str(threads)
    env["ASSISTANTD_EMBEDDED_CONTEXT_LENGTH"] = str(ctx)
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
        server = start_server(port, data_dir, args.threads, args.ctx)
        try:
            client = openai.OpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=300
            )
            assistant_id = client.beta.assistants.create(
                model="gpt-4o", instructions=INSTRUCTIONS
            ).id
            llm.reset()
            rounds: list[tuple[float, float]] = []
            mismatches = 0
            for i in range(args.runs + 1):
                question = QUESTION.format(i=i)
                run_s, run_text, prompt_n, completion_n = timed_run(
                    client, assistant_id, question, args.tokens
                )
                raw_s, raw_text, raw_prompt_n = raw_generation(llm, question, completion_n)
                if i == 0:
                    print(f"warm-up run (loads the model in the server): {run_s:.2f} s")
                    continue
                if raw_text != run_text or raw_prompt_n != prompt_n:
                    mismatches += 1
                rounds.append((run_s, raw_s))
                print(
                    f"round {i}: run {run_s * 1000:.0f} ms, raw {raw_s * 1000:.0f} ms "
                    f"({prompt_n} prompt + {completion_n} generated tokens)"
                )
        except Exception:
            print(f"server log tail:\n{tail(data_dir / 'server.log')}", file=sys.stderr)
            raise
        finally:
            stop("server", server, data_dir / "server.log", "Finished server process")
    run_median = statistics.median(r for r, _ in rounds)
    raw_median = statistics.median(r for _, r in rounds)
    print(
        f"run overhead over raw generation: {(run_median / raw_median - 1) * 100:+.1f}% "
        f"(median run {run_median * 1000:.0f} ms, raw {raw_median * 1000:.0f} ms; target <= 5%)"
    )
    print(f"same tokens both ways: {args.runs - mismatches} of {args.runs} rounds")


if __name__ == "__main__":
    main()
