"""Embedded model benchmark: load time, prompt and generation speed, and what a run adds over
the runtime adapter (cyllama, or llama-cpp-python) generating the same tokens.

    python bench/embedded.py [--threads N] [--tokens 64] [--runs 5] [--runtime auto]

1. The adapter alone on the packaged SmolLM2 GGUF: load time, prompt evaluation tokens/s
   (nothing reused from the context) and generation tokens/s.
2. A real `assistantd serve` with no upstream (so the embedded model is the default route),
   on the same runtime. Each round sends the same conversation both ways, greedy
   (temperature 0), in the same order so the context reuse is the same on both sides:
   - as a streamed run (timed from the create request to `thread.run.completed`);
   - to the adapter's `generate` with the same prompt and sampling, stopped after the number
     of tokens the run reported.
   The overhead is median(run) / median(raw) - 1 (target: <= 5%). The text of both is compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from assistantd.providers.embedded_turn import DEFAULT_TOP_P, TEXT_REPEAT_PENALTY
from assistantd.providers.llama_model import (
    RUNTIMES,
    Generation,
    LlamaModel,
    Runtime,
    Sampling,
    load_model,
)
from assistantd.providers.model_file import packaged_gguf
from assistantd.settings import default_embedded_threads
from processes import ServerProcess, serving

INSTRUCTIONS = "You are a helpful assistant. Answer in full sentences."
QUESTION = "Round {i}: describe a lighthouse keeper's day, hour by hour."
PARAGRAPH = (
    "The harbour wakes before the sun. Fishing boats leave in a line, gulls follow them, and "
    "the lighthouse keeper writes the weather into a worn notebook. "
)


def load(path: Path, threads: int, ctx: int, runtime: Runtime) -> tuple[LlamaModel, float]:
    started = time.perf_counter()
    model = load_model(path, n_ctx=ctx, n_threads=threads, runtime=runtime)
    return model, time.perf_counter() - started


def prompt_speed(model: LlamaModel, tokens: int, round_: int) -> float:
    # A different first message each round: nothing of the last round's prompt is reused.
    text = f"{round_} {PARAGRAPH * 40}"
    prompt = model.chat_tokens([{"role": "user", "content": text}])[:tokens]
    started = time.perf_counter()
    list(model.generate(prompt, Sampling(0.0, 1.0, 1), None, Generation(), lambda: False))
    return len(prompt) / (time.perf_counter() - started)


def generation_speed(model: LlamaModel, tokens: int) -> float:
    prompt = model.chat_tokens([{"role": "user", "content": "Tell me a story."}])
    sampling = Sampling(0.0, 1.0, tokens + 1, TEXT_REPEAT_PENALTY)
    result = Generation()
    first = 0.0
    for count, _ in enumerate(model.generate(prompt, sampling, None, result, lambda: False)):
        if count == 0:
            first = time.perf_counter()  # the prompt is read before the first token
    return (result.completion_tokens - 1) / (time.perf_counter() - first)


def chat_tokens(model: LlamaModel, question: str) -> list[int]:
    """The prompt the server builds for a one-message thread: instructions, then the user."""
    return model.chat_tokens(
        [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": question}]
    )


@dataclass
class Timing:
    """One answer: seconds to the first text and to the end, its text and token counts."""

    first_s: float = 0.0
    total_s: float = 0.0
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


def raw_generation(model: LlamaModel, question: str, tokens: int) -> Timing:
    prompt = chat_tokens(model, question)
    timing = Timing(prompt_tokens=len(prompt))
    sampling = Sampling(0.0, DEFAULT_TOP_P, tokens, TEXT_REPEAT_PENALTY)
    result = Generation()
    pieces: list[str] = []
    started = time.perf_counter()
    for piece in model.generate(prompt, sampling, None, result, lambda: False):
        pieces.append(piece)
        if len(pieces) == 1:
            timing.first_s = time.perf_counter() - started
    timing.total_s = time.perf_counter() - started
    timing.text = "".join(pieces)
    timing.completion_tokens = result.completion_tokens
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


def embedded_server(
    data_dir: Path, threads: int, ctx: int, tokens: int, runtime: Runtime
) -> ServerProcess:
    """A server with no upstream, so the embedded model is the default route."""
    env = {
        "ASSISTANTD_EMBEDDED_RUNTIME": runtime,
        "ASSISTANTD_EMBEDDED_THREADS": str(threads),
        "ASSISTANTD_EMBEDDED_CONTEXT_LENGTH": str(ctx),
        # The API's max_completion_tokens starts at 256; a shorter answer is the server's cap.
        "ASSISTANTD_EMBEDDED_MAX_TOKENS": str(tokens),
    }
    return ServerProcess(data_dir, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=default_embedded_threads())
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=64, help="generated tokens per round")
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5, help="rounds (after one warm-up)")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto")
    args = parser.parse_args()

    path = packaged_gguf()
    print(
        f"model {path.name} ({path.stat().st_size / 1e6:.0f} MB), {args.threads} thread(s), "
        f"context {args.ctx}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    model, load_s = load(path, args.threads, args.ctx, args.runtime)
    # The rounds' model: as fresh as the server's, so both reuse the same context history.
    raw_model, reload_s = load(path, args.threads, args.ctx, args.runtime)
    print(
        f"load on {type(model).__name__}: {load_s:.2f} s first, {reload_s:.2f} s again "
        "(file in the page cache)"
    )
    prompt_tps = statistics.median(prompt_speed(model, args.prompt_tokens, i) for i in range(3))
    gen_tps = statistics.median(generation_speed(model, args.tokens) for _ in range(3))
    model.close()
    print(f"prompt: {prompt_tps:.0f} tokens/s ({args.prompt_tokens}-token prompt, fresh context)")
    print(f"generation: {gen_tps:.1f} tokens/s (greedy, {args.tokens} tokens)")

    with (
        tempfile.TemporaryDirectory(prefix="bench-embedded-") as folder,
        serving(
            embedded_server(Path(folder), args.threads, args.ctx, args.tokens, args.runtime)
        ) as server,
    ):
        base_url = server.base_url
        created = httpx.post(
            f"{base_url}/assistants", json={"model": "gpt-4o", "instructions": INSTRUCTIONS}
        )
        assistant_id = created.raise_for_status().json()["id"]
        rounds: list[tuple[Timing, Timing]] = []
        for i in range(args.runs + 1):
            question = QUESTION.format(i=i)
            run = timed_run(base_url, assistant_id, question)
            raw = raw_generation(raw_model, question, run.completion_tokens)
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
