"""Benchmark: quality and speed of the retrieval library (assistantd.retrieval) on Cranfield.

Loads the Cranfield collection, chunks each document (AUTO spec), embeds the chunks with the
local MiniLM model, indexes them in a HybridIndex and runs the 225 queries: nDCG@10,
Recall@10 and MRR@10 for keyword-only, vector-only and hybrid search, on all queries and on
the two halves (odd query positions tune the defaults, even ones check them). Also prints the
raw embedding throughput, the index build time and search latency; `--synthetic N` builds an
N-chunk index from Cranfield words and random vectors and times searches on it.

Run from the repository root:

    .venv/bin/python bench/retrieval_library.py [--cache /tmp/assistantd-bench] [--sweep]
    .venv/bin/python bench/retrieval_library.py --synthetic 100000
    .venv/bin/python bench/retrieval_library.py --throughput

This is a benchmark, not a test: it never fails on a figure, it prints the targets beside.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.chunking import ChunkingSpec, chunk_text
from assistantd.retrieval.embedding import MiniLMEmbedder
from assistantd.retrieval.fusion import HybridWeights, reciprocal_rank_fusion
from assistantd.retrieval.index import HybridIndex, IndexedChunk
from assistantd.retrieval.keyword import BM25Params
from assistantd.retrieval.query import rewrite_query

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "cranfield"
CUTOFF = 10
# Chunks retrieved per query before collapsing chunks to documents.
DEPTH = 100
TARGET_NDCG = 0.44
TARGET_P50_MS = 20.0

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Collection:
    docs: list[tuple[str, str, str]]  # (docno, title, text)
    queries: list[str]  # by position: qrels number queries 1..225 by position, not <num>
    qrels: dict[int, dict[str, int]]  # query position (0-based) -> docno -> grade


def load_cranfield(data: Path) -> Collection:
    def clean(value: str | None) -> str:
        return " ".join((value or "").split())

    raw_docs = (data / "cran.all.1400.xml").read_text(encoding="utf-8")
    # The file is a sequence of <doc> elements without a root: wrap it.
    root = ET.fromstring("<docs>" + raw_docs.split("?>", 1)[-1] + "</docs>")
    docs = [
        (clean(d.findtext("docno")), clean(d.findtext("title")), clean(d.findtext("text")))
        for d in root.iter("doc")
    ]
    queries_root = ET.parse(data / "cran.qry.xml").getroot()
    queries = [clean(top.findtext("title")) for top in queries_root.iter("top")]
    qrels: dict[int, dict[str, int]] = {}
    for line in (data / "cranqrel.trec.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            qrels.setdefault(int(parts[0]) - 1, {})[parts[2]] = int(parts[3])
    return Collection(docs, queries, qrels)


# -- metrics -------------------------------------------------------------------------------


def ndcg(ranked: Sequence[str], grades: dict[str, int], cutoff: int = CUTOFF) -> float:
    gain = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:cutoff]))
    ideal_grades = sorted((g for g in grades.values() if g > 0), reverse=True)[:cutoff]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_grades))
    return gain / ideal if ideal else 0.0


def recall(ranked: Sequence[str], grades: dict[str, int], cutoff: int = CUTOFF) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant.intersection(ranked[:cutoff])) / len(relevant) if relevant else 0.0


def mrr(ranked: Sequence[str], grades: dict[str, int], cutoff: int = CUTOFF) -> float:
    for i, d in enumerate(ranked[:cutoff]):
        if grades.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


@dataclass(frozen=True)
class Scores:
    ndcg: float
    recall: float
    mrr: float

    def __str__(self) -> str:
        return f"nDCG@10 {self.ndcg:.4f}  R@10 {self.recall:.4f}  MRR@10 {self.mrr:.4f}"


def evaluate(runs: dict[int, list[str]], qrels: dict[int, dict[str, int]], part: str) -> Scores:
    judged = [q for q in sorted(qrels) if q in runs and any(g > 0 for g in qrels[q].values())]
    if part == "odd":  # 1-based positions 1, 3, 5, ...
        judged = [q for q in judged if q % 2 == 0]
    elif part == "even":
        judged = [q for q in judged if q % 2 == 1]
    return Scores(
        statistics.fmean(ndcg(runs[q], qrels[q]) for q in judged),
        statistics.fmean(recall(runs[q], qrels[q]) for q in judged),
        statistics.fmean(mrr(runs[q], qrels[q]) for q in judged),
    )


# -- embedding with a cache ----------------------------------------------------------------


def cached_embeddings(
    embedder: MiniLMEmbedder, texts: list[str], cache: Path | None, label: str
) -> tuple[Vectors, float | None]:
    """Vectors of `texts`, from the cache when the same texts and settings were embedded."""
    key = hashlib.sha256(
        "\x00".join(
            [embedder.name, embedder.window_pooling, str(embedder.max_wordpieces), *texts]
        ).encode()
    ).hexdigest()[:16]
    path = cache / f"{label}-{key}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path), None
    start = time.perf_counter()
    vectors = np.concatenate(
        [embedder.embed_documents(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    )
    elapsed = time.perf_counter() - start
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors, elapsed


# -- runs ----------------------------------------------------------------------------------


def doc_ranking(chunk_ids: Sequence[str]) -> list[str]:
    """Chunk hits collapsed to documents, each at its best chunk's rank."""
    seen: dict[str, None] = {}
    for chunk_id in chunk_ids:
        seen.setdefault(chunk_id.split("#", 1)[0], None)
    return list(seen)


def build_index(
    collection: Collection,
    chunk_vectors: Vectors,
    chunks: list[tuple[str, str, str, str]],
    bm25: BM25Params,
    titles: bool,
) -> tuple[HybridIndex, float]:
    start = time.perf_counter()
    index = HybridIndex(chunk_vectors.shape[1], bm25=bm25)
    index.add(
        [
            IndexedChunk(chunk_id, docno, text, chunk_vectors[i], title if titles else None)
            for i, (chunk_id, docno, title, text) in enumerate(chunks)
        ]
    )
    return index, time.perf_counter() - start


def run_queries(
    index: HybridIndex,
    queries: list[str],
    keyword_queries: list[str],
    query_vectors: Vectors,
    weights: HybridWeights,
) -> tuple[dict[int, list[str]], list[float]]:
    runs: dict[int, list[str]] = {}
    latencies: list[float] = []
    for q in range(len(queries)):
        start = time.perf_counter()
        hits = index.search(keyword_queries[q], query_vectors[q], k=DEPTH, weights=weights)
        latencies.append(time.perf_counter() - start)
        runs[q] = doc_ranking([h.chunk_id for h in hits])
    return runs, latencies


def rrf_runs(
    index: HybridIndex, keyword_queries: list[str], query_vectors: Vectors, k: int = 60
) -> dict[int, list[str]]:
    """Plain RRF of the two single-sided rankings, for reference."""
    runs: dict[int, list[str]] = {}
    for q in range(len(keyword_queries)):
        sides = []
        for weights in (HybridWeights(0, 1), HybridWeights(1, 0)):
            hits = index.search(keyword_queries[q], query_vectors[q], k=DEPTH, weights=weights)
            sides.append([h.chunk_id for h in hits])
        ids = sorted({c for side in sides for c in side})
        position = {c: i for i, c in enumerate(ids)}
        fused = reciprocal_rank_fusion(
            [(np.array([position[c] for c in side], dtype=np.int64), 1.0) for side in sides],
            len(ids),
            k,
        )
        order = np.argsort(-fused, kind="stable")
        runs[q] = doc_ranking([ids[i] for i in order])
    return runs


def percentile(values: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, p))


def report(label: str, runs: dict[int, list[str]], qrels: dict[int, dict[str, int]]) -> None:
    print(f"  {label:<26} all  {evaluate(runs, qrels, 'all')}")
    print(f"  {'':<26} odd  {evaluate(runs, qrels, 'odd')}   (tuning half)")
    print(f"  {'':<26} even {evaluate(runs, qrels, 'even')}   (check half)")


# -- modes ---------------------------------------------------------------------------------


def cranfield(args: argparse.Namespace) -> None:
    collection = load_cranfield(args.data)
    spec = ChunkingSpec.AUTO
    start = time.perf_counter()
    chunks: list[tuple[str, str, str, str]] = []
    for docno, title, text in collection.docs:
        for chunk in chunk_text(text or title, spec):
            chunks.append((f"{docno}#{chunk.index}", docno, title, chunk.text))
    chunk_seconds = time.perf_counter() - start
    print(f"load average: {os.getloadavg()[0]:.2f} (timings assume an idle machine)")
    print(
        f"Cranfield: {len(collection.docs)} documents -> {len(chunks)} chunks "
        f"(AUTO 800/400, {chunk_seconds * 1000:.0f} ms), {len(collection.queries)} queries"
    )
    embedder = MiniLMEmbedder(
        threads=args.threads, window_pooling=args.window_pooling, max_wordpieces=args.wordpieces
    )
    chunk_texts = [c[3] for c in chunks]
    chunk_vectors, seconds = cached_embeddings(embedder, chunk_texts, args.cache, "chunks")
    if seconds is not None:
        print(f"  embedded {len(chunk_texts)} chunks in {seconds:.1f} s "
              f"({len(chunk_texts) / seconds:.1f} chunks/s)")  # fmt: skip
    else:
        print("  chunk vectors from the cache")
    dense_queries = (
        [rewrite_query(q) for q in collection.queries] if args.rewrite_dense else collection.queries
    )
    query_vectors, _ = cached_embeddings(embedder, dense_queries, args.cache, "queries")
    keyword_queries = (
        [rewrite_query(q) for q in collection.queries] if args.rewrite else collection.queries
    )
    bm25 = BM25Params(k1=args.k1, b=args.b, title_weight=args.title_weight)
    index, build_seconds = build_index(
        collection, chunk_vectors, chunks, bm25, titles=args.title_weight > 0
    )
    print(f"  index build {build_seconds * 1000:.0f} ms ({bm25})")
    qrels = collection.qrels

    if args.sweep:
        grid = {"title_weight": args.grid_title, "k1": args.grid_k1, "b": args.grid_b}
        sweep(collection, chunks, chunk_vectors, keyword_queries, query_vectors, grid)
        return
    weights = HybridWeights(args.embedding_weight, args.text_weight)
    for label, w in (
        ("keyword only (BM25)", HybridWeights(0, 1)),
        ("vector only (MiniLM)", HybridWeights(1, 0)),
        (f"hybrid {weights.embedding_weight:g}/{weights.text_weight:g}", weights),
    ):
        runs, latencies = run_queries(index, collection.queries, keyword_queries,
                                      query_vectors, w)  # fmt: skip
        report(label, runs, qrels)
        if w is weights:
            hybrid_latencies = latencies
    report("RRF k=60 (reference)", rrf_runs(index, keyword_queries, query_vectors), qrels)
    print(
        f"  hybrid search latency over {len(chunks)} chunks: "
        f"p50 {percentile(hybrid_latencies, 50):.2f} ms, "
        f"p95 {percentile(hybrid_latencies, 95):.2f} ms"
    )
    print(f"  target: hybrid nDCG@10 >= {TARGET_NDCG}")


def sweep(
    collection: Collection,
    chunks: list[tuple[str, str, str, str]],
    chunk_vectors: Vectors,
    keyword_queries: list[str],
    query_vectors: Vectors,
    args_grid: dict[str, list[float]],
) -> None:
    """Grid over the BM25 parameters and the fusion weight, scored on the odd (tuning) half;
    the even half is printed beside for the best settings only."""
    print("  grid: title_weight x k1 x b -> BM25 odd nDCG, best embedding weight, hybrid odd/even")
    results: list[tuple[float, str]] = []
    for title_weight in args_grid["title_weight"]:
        for k1 in args_grid["k1"]:
            for b in args_grid["b"]:
                bm25 = BM25Params(k1=k1, b=b, title_weight=title_weight)
                index, _ = build_index(
                    collection, chunk_vectors, chunks, bm25, titles=title_weight > 0
                )
                keyword_only, _ = run_queries(
                    index, collection.queries, keyword_queries, query_vectors, HybridWeights(0, 1)
                )
                best = (-1.0, 0.0, 0.0)
                for embedding_weight in np.arange(0.3, 0.71, 0.05):
                    w = HybridWeights(float(embedding_weight), float(1 - embedding_weight))
                    runs, _ = run_queries(
                        index, collection.queries, keyword_queries, query_vectors, w
                    )
                    odd = evaluate(runs, collection.qrels, "odd").ndcg
                    if odd > best[0]:
                        even = evaluate(runs, collection.qrels, "even").ndcg
                        best = (odd, float(embedding_weight), even)
                line = (
                    f"    title {title_weight:g} k1 {k1:g} b {b:g}: BM25 odd "
                    f"{evaluate(keyword_only, collection.qrels, 'odd').ndcg:.4f} | hybrid "
                    f"w_e {best[1]:.2f} odd {best[0]:.4f} even {best[2]:.4f}"
                )
                print(line, flush=True)
                results.append((best[0], line))
    print("  best on the tuning half:")
    for _, line in sorted(results, reverse=True)[:5]:
        print(line)


def throughput(args: argparse.Namespace) -> None:
    """Raw model throughput: chunks/s for ~200- and 800-token chunks, in calls of
    `preferred_batch_size` texts (what an ingestion pipeline should send per call)."""
    collection = load_cranfield(args.data)
    corpus = "\n\n".join(text for _, _, text in collection.docs)
    embedder = MiniLMEmbedder(
        threads=args.threads, window_pooling=args.window_pooling, max_wordpieces=args.wordpieces
    )
    embedder.embed_documents(["warm up"] * 8)
    print(f"load average before: {os.getloadavg()[0]:.2f} (figures assume an idle machine)")
    calls = embedder.preferred_batch_size
    for tokens, count in ((200, 3 * calls), (800, calls)):
        texts = [c.text for c in chunk_text(corpus, ChunkingSpec(tokens, 0))[:count]]
        windows = embedder.count_windows(texts)
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), calls):
            embedder.embed_documents(texts[i : i + calls])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"  {tokens}-token chunks: {len(texts) / seconds:.1f} chunks/s "
            f"({windows / len(texts):.1f} windows/chunk, {windows / seconds:.1f} windows/s, "
            f"{cpu / seconds:.2f} cores busy; threads={embedder.threads}, "
            f"batch={embedder.batch_size}, texts/call={calls})"
        )


def synthetic(args: argparse.Namespace) -> None:
    """An index of N chunks of ~200 tokens made of Cranfield words, with random vectors."""
    collection = load_cranfield(args.data)
    rng = np.random.default_rng(0)
    words = np.array(re.findall(r"[a-z0-9]+", " ".join(t for _, _, t in collection.docs)))
    n = args.synthetic
    # Sampling the word stream keeps Cranfield's word frequencies (a Zipf-like vocabulary).
    lengths = rng.integers(120, 180, size=n)
    starts = rng.integers(0, len(words), size=n)
    offsets = np.cumsum(lengths)
    flat = words[rng.integers(0, len(words), size=int(offsets[-1]))]
    texts = [" ".join(flat[o - n_words : o]) for o, n_words in zip(offsets, lengths, strict=True)]
    del starts
    dimensions = 384
    vectors = rng.standard_normal((n, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    index = HybridIndex(dimensions)
    batch = 1000
    for i in range(0, n, batch):
        index.add(
            [
                IndexedChunk(f"c{j}", f"f{j // 20}", texts[j], vectors[j])
                for j in range(i, min(n, i + batch))
            ]
        )
    print(f"load average: {os.getloadavg()[0]:.2f} (timings assume an idle machine)")
    print(f"synthetic: {n} chunks, index build {time.perf_counter() - start:.1f} s")
    queries = collection.queries
    query_vectors = rng.standard_normal((len(queries), dimensions)).astype(np.float32)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    allowed = {f"f{j}" for j in range(0, n // 20, 2)}
    for label, files in (("all files", None), ("half the files allowed", allowed)):
        for q in range(5):  # warm up
            index.search(queries[q], query_vectors[q], k=20, allowed_files=files)
        latencies = []
        for q in range(len(queries)):
            t = time.perf_counter()
            index.search(queries[q], query_vectors[q], k=20, allowed_files=files)
            latencies.append(time.perf_counter() - t)
        print(
            f"  hybrid search k=20, {label}: p50 {percentile(latencies, 50):.2f} ms, "
            f"p95 {percentile(latencies, 95):.2f} ms (target p50 <= {TARGET_P50_MS:g} ms)"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Cranfield directory")
    parser.add_argument("--cache", type=Path, default=None, help="cache embeddings here")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    parser.add_argument("--window-pooling", choices=["mean", "tokens"], default="tokens")
    parser.add_argument("--wordpieces", type=int, default=256, help="window size of the model")
    parser.add_argument("--embedding-weight", type=float, default=None)
    parser.add_argument("--text-weight", type=float, default=None)
    bm25 = BM25Params()
    parser.add_argument("--k1", type=float, default=bm25.k1)
    parser.add_argument("--b", type=float, default=bm25.b)
    parser.add_argument("--title-weight", type=float, default=bm25.title_weight)
    parser.add_argument("--rewrite", action="store_true", help="rewrite_query for BM25")
    parser.add_argument("--rewrite-dense", action="store_true", help="rewrite_query for vectors")
    parser.add_argument("--sweep", action="store_true", help="grid search (odd queries)")
    parser.add_argument("--grid-title", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--grid-k1", type=float, nargs="+", default=[0.9, 1.2, 1.6])
    parser.add_argument("--grid-b", type=float, nargs="+", default=[0.5, 0.75, 0.9])
    parser.add_argument("--throughput", action="store_true", help="raw embedding throughput")
    parser.add_argument("--synthetic", type=int, default=0, help="N-chunk latency test")
    args = parser.parse_args(argv)
    defaults = HybridWeights()
    if args.embedding_weight is None:
        args.embedding_weight = defaults.embedding_weight
    if args.text_weight is None:
        args.text_weight = defaults.text_weight
    modes: list[Callable[[argparse.Namespace], None]] = []
    if args.synthetic:
        modes.append(synthetic)
    if args.throughput:
        modes.append(throughput)
    for mode in modes or [cranfield]:
        mode(args)


if __name__ == "__main__":
    main()
