"""Benchmark: file_search quality and speed through the public API, on Cranfield.

Starts a real `assistantd serve` (SQLite, its own data folder), uploads the 1,400 Cranfield
documents as files, ingests them into one vector store with a file batch, and runs the 225
queries through `vector_stores.search`: nDCG@10, Recall@10, MRR@10, ingestion chunks/s
against the embedding model's raw throughput on the same chunks, and search p50/p95 (client
wall time and the server's own time from `server-timing`).

`--chunks N` instead measures search latency at N chunks: a small store is made through the
API, then filled with synthetic chunks written straight into the stopped server's database,
because embedding 100k real chunks takes an hour here. Each synthetic chunk mixes two Cranfield
documents (words and embeddings, see `synthetic_chunks`). It also reports how often the served
search (candidates from a clustered vector index) returns the exact top 10, in-process.

    .venv/bin/python bench/retrieval.py
    .venv/bin/python bench/retrieval.py --chunks 100000

A benchmark, not a test: it prints figures and the targets beside them.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import openai

from assistantd.retrieval.chunking import ChunkingSpec, chunk_text
from assistantd.retrieval.embedding import MiniLMEmbedder
from assistantd.retrieval.index import HybridIndex, IndexedChunk
from processes import ServerProcess
from retrieval_library import DEFAULT_DATA, Collection, evaluate, load_cranfield

TARGET_NDCG = 0.44
TARGET_INGEST_RATIO = 0.90
TARGET_P50_MS = 20.0
DEPTH = 50  # results per query; chunks collapse to documents before scoring


@contextmanager
def serve(data_dir: Path) -> Iterator[str]:
    """A server on `data_dir` (its log, at warning level, goes there too); yields its base URL."""
    server = ServerProcess(data_dir, env={"ASSISTANTD_LOG_LEVEL": "warning"})
    server.start(timeout=60)
    try:
        yield server.base_url
    finally:
        server.stop(timeout=30)


def wait_for_batch(client: openai.OpenAI, store_id: str, batch_id: str) -> None:
    while True:
        batch = client.vector_stores.file_batches.retrieve(batch_id, vector_store_id=store_id)
        if batch.file_counts.in_progress == 0:
            return
        time.sleep(0.5)  # the SDK's pollers wait 1 s; counting 1,400 files is not free


def ingest(client: openai.OpenAI, collection: Collection) -> tuple[str, dict[str, str], float]:
    """Upload every document, then time one batch ingesting them all. Returns the store id,
    file id -> docno, and the ingestion wall time."""
    docno_of: dict[str, str] = {}
    for docno, title, text in collection.docs:
        uploaded = client.files.create(
            file=(f"cran-{docno}.txt", as_document(title, text).encode()), purpose="assistants"
        )
        docno_of[uploaded.id] = docno
    store = client.vector_stores.create(name="cranfield")
    started = time.perf_counter()
    batch = client.vector_stores.file_batches.create(
        vector_store_id=store.id, file_ids=list(docno_of)
    )
    wait_for_batch(client, store.id, batch.id)
    elapsed = time.perf_counter() - started
    counts = client.vector_stores.retrieve(store.id).file_counts
    print(f"ingested {counts.completed} files ({counts.failed} failed) in {elapsed:.1f} s")
    return store.id, docno_of, elapsed


def as_document(title: str, text: str) -> str:
    """A Cranfield record as a real file: its title on the first line, then the body (the
    collection's text field repeats the title at its start)."""
    body = text[len(title) :].strip() if text.startswith(title) else text
    return f"{title}\n\n{body}"


def raw_throughput(texts: list[str]) -> dict[str, float]:
    """Chunks/s of the embedding model alone, in this process, on these chunks in batches of
    128, two ways: one batch at a time on two threads, and two single-threaded batches at once
    (what the server does)."""
    results: dict[str, float] = {}
    batches = [texts[start : start + 128] for start in range(0, len(texts), 128)]
    model = MiniLMEmbedder(threads=2)
    model.embed_documents(texts[:64])  # warm up
    started = time.perf_counter()
    for batch in batches:
        model.embed_documents(batch)
    results["1 batch x 2 threads"] = len(texts) / (time.perf_counter() - started)
    single = MiniLMEmbedder(threads=1)
    single.embed_documents(texts[:64])
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(single.embed_documents, batches))
    results["2 batches x 1 thread"] = len(texts) / (time.perf_counter() - started)
    return results


def server_ms(response: object) -> float | None:
    header = response.headers.get("server-timing", "")  # type: ignore[attr-defined]
    for part in header.split(","):
        if "dur=" in part:
            return float(part.split("dur=")[1].split(";")[0])
    return None


def run_queries(
    client: openai.OpenAI, store_id: str, collection: Collection, docno_of: dict[str, str]
) -> tuple[dict[int, list[str]], list[float], list[float]]:
    runs: dict[int, list[str]] = {}
    wall: list[float] = []
    server: list[float] = []
    search = client.vector_stores.with_raw_response.search
    for position, query in enumerate(collection.queries):
        started = time.perf_counter()
        raw = search(store_id, query=query, max_num_results=DEPTH)
        wall.append((time.perf_counter() - started) * 1000)
        measured = server_ms(raw)
        if measured is not None:
            server.append(measured)
        ranked: list[str] = []
        for result in raw.parse().data:
            docno = docno_of.get(result.file_id)
            if docno is not None and docno not in ranked:
                ranked.append(docno)
        runs[position] = ranked
    return runs, wall, server


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):.2f} ms  p95 {p95:.2f} ms"


def quality(data: Path) -> None:
    collection = load_cranfield(data)
    chunk_texts = [
        piece.text
        for _docno, title, text in collection.docs
        for piece in chunk_text(as_document(title, text), ChunkingSpec(800, 400))
    ]
    # The model alone, on every other chunk (the same length mix), before and after the
    # ingestion: the machine's speed drifts by 10-20% over minutes.
    sample = chunk_texts[::2]
    raw_before = raw_throughput(sample)
    with (
        tempfile.TemporaryDirectory(prefix="assistantd-bench-") as folder,
        serve(Path(folder)) as base_url,
    ):
        client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
        store_id, docno_of, elapsed = ingest(client, collection)
        raw_after = raw_throughput(sample)
        runs, wall, server = run_queries(client, store_id, collection, docno_of)
    scores = evaluate(runs, collection.qrels, "all")
    print(f"quality through the API: {scores}   (target nDCG@10 >= {TARGET_NDCG})")
    print(f"  odd queries:  {evaluate(runs, collection.qrels, 'odd')}")
    print(f"  even queries: {evaluate(runs, collection.qrels, 'even')}")
    ingest_rate = len(chunk_texts) / elapsed
    # The raw throughput during the ingestion: per way of running the model, the mean of the
    # figures taken just before and just after it; the faster way counts. The fastest single
    # figure is shown too, with the spread of the raw figures (the machine's own noise: the
    # model alone, measured against its fastest figure, would score the slowest / fastest).
    bracketed = {name: (raw_before[name] + raw_after[name]) / 2 for name in raw_before}
    best_way = max(bracketed, key=bracketed.__getitem__)
    figures = [*raw_before.values(), *raw_after.values()]
    shown = ", ".join(
        f"{name} {raw_before[name]:.1f} before / {raw_after[name]:.1f} after" for name in raw_before
    )
    print(f"raw model chunks/s: {shown} (slowest / fastest {min(figures) / max(figures):.2f})")
    print(
        f"ingestion {ingest_rate:.1f} chunks/s vs raw model {bracketed[best_way]:.1f} chunks/s "
        f"({best_way}, mean of before and after): ratio {ingest_rate / bracketed[best_way]:.2f} "
        f"(target >= {TARGET_INGEST_RATIO}); vs the fastest single figure "
        f"{max(figures):.1f}: {ingest_rate / max(figures):.2f}"
    )
    print(f"search wall   {percentiles(wall)}")
    if server:
        print(f"search server {percentiles(server)}")


def synthetic_chunks(
    collection: Collection, total: int
) -> tuple[list[str], npt.NDArray[np.float32]]:
    """`total` chunks shaped like real ones: each mixes two Cranfield documents, in its words
    (75 drawn from each) and in its vector (a weighted sum of the two documents' embeddings
    plus noise: cosine ~0.7 to the main one). Random vectors would have no neighbourhoods,
    which no embedding model produces and no index is built for."""
    model = MiniLMEmbedder(threads=2)
    # Titles: embedding whole documents takes a minute here, and titles place them as well.
    centres = model.embed_documents([title or text for _d, title, text in collection.docs])
    words = [f"{title} {text} {docno}".split() for docno, title, text in collection.docs]
    rng = np.random.default_rng(7)
    first = rng.integers(0, len(centres), total)
    second = rng.integers(0, len(centres), total)
    weight = rng.uniform(0.5, 1.0, (total, 1)).astype(np.float32)
    noise = rng.standard_normal((total, centres.shape[1])).astype(np.float32) * np.float32(0.035)
    vectors = weight * centres[first] + (1 - weight) * centres[second] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [
        " ".join(
            [words[a][i] for i in rng.integers(0, len(words[a]), 75)]
            + [words[b][i] for i in rng.integers(0, len(words[b]), 75)]
        )
        for a, b in zip(first.tolist(), second.tolist(), strict=True)
    ]
    return texts, vectors.astype(np.float32)


def agreement(
    texts: list[str], vectors: npt.NDArray[np.float32], queries: list[str], k: int = 10
) -> float:
    """Mean share of the exact top-k that the served (candidate-based) search also returns,
    on an in-process index of the same chunks."""
    model = MiniLMEmbedder(threads=2)
    index = HybridIndex(vectors.shape[1])
    step = 10_000
    for start in range(0, len(texts), step):
        index.add(
            [
                IndexedChunk(str(i), "file", texts[i], vectors[i], "seed.txt")
                for i in range(start, min(start + step, len(texts)))
            ]
        )
    index.wait_until_built(600)
    shares = []
    for query in queries:
        vector = model.embed_query(query)
        served = {hit.chunk_id for hit in index.search(query, vector, k=k)}
        exact = {hit.chunk_id for hit in index.search(query, vector, k=k, exact=True)}
        shares.append(len(served & exact) / max(len(exact), 1))
    return statistics.mean(shares)


def synthetic(total: int, data: Path, queries: int) -> None:
    collection = load_cranfield(data)
    texts, vectors = synthetic_chunks(collection, total)
    with tempfile.TemporaryDirectory(prefix="assistantd-bench-") as folder:
        with serve(Path(folder)) as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
            file_id = client.files.create(
                file=("seed.txt", b"a seed document for the store"), purpose="assistants"
            ).id
            store = client.vector_stores.create(name="synthetic", file_ids=[file_id])
            while client.vector_stores.retrieve(store.id).file_counts.in_progress:
                time.sleep(0.2)
        database = sqlite3.connect(Path(folder) / "assistantd.sqlite3")
        project = database.execute("SELECT project_id FROM vector_stores").fetchone()[0]
        rows = (
            (
                project,
                store.id,
                file_id,
                index + 1,
                texts[index],
                200,
                vectors[index].tobytes(),
            )
            for index in range(total)
        )
        database.executemany(
            "INSERT INTO chunks (project_id, vector_store_id, file_id, chunk_index, text, "
            "token_count, embedding) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        database.execute("UPDATE vector_stores SET index_version = index_version + 1")
        database.commit()
        database.close()
        print(f"store filled with {total} synthetic chunks")
        with serve(Path(folder)) as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
            search = client.vector_stores.with_raw_response.search
            started = time.perf_counter()
            search(store.id, query="warm up", max_num_results=10)
            print(f"first search (loads the index) {time.perf_counter() - started:.1f} s")
            wall: list[float] = []
            server: list[float] = []
            for query in collection.queries[:queries]:
                began = time.perf_counter()
                raw = search(store.id, query=query, max_num_results=10)
                wall.append((time.perf_counter() - began) * 1000)
                measured = server_ms(raw)
                if measured is not None:
                    server.append(measured)
    print(f"search at {total} chunks: wall {percentiles(wall)}  (target p50 <= {TARGET_P50_MS})")
    if server:
        print(f"search at {total} chunks: server {percentiles(server)}")
    share = agreement(texts, vectors, collection.queries[:queries])
    print(f"top-10 agreement of the served search with an exact one (in-process): {share:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--chunks", type=int, default=0, help="synthetic mode with N chunks")
    parser.add_argument("--queries", type=int, default=100, help="queries in synthetic mode")
    args = parser.parse_args()
    if args.chunks:
        synthetic(args.chunks, args.data, args.queries)
    else:
        quality(args.data)


if __name__ == "__main__":
    main()
