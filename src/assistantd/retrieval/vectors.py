"""Vector search: a growable float32 matrix, scanned exactly, plus (past `approximate_from`
vectors) a clustered index that proposes candidates which the matrix then rescores exactly.

The clustered index is built in a background thread from a snapshot; changes made meanwhile
are replayed onto it before it is installed, and until then every search scans exactly.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.clustered import ClusteredIndex

log = logging.getLogger("assistantd.retrieval")

_blas_lock = threading.Lock()
_blas_pinned = False
# Large scans are split across threads of our own (BLAS releases the GIL): the parallelism
# OpenBLAS would give, without its spinning barrier. Below this many rows one thread is faster.
_PARALLEL_ROWS: Final = 32_768
_SCAN_THREADS: Final = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
# Below this many vectors the exact scan takes about a millisecond: no clustered index.
DEFAULT_APPROXIMATE_FROM: Final = 20_000
# Candidates asked of the clustered index for a top-k below this: cheap, and keeps recall high.
MIN_CANDIDATES: Final = 128
# The clustered index is rebuilt (off the search path) once the store has grown this much
# since its centroids were learnt, so that the number of clusters follows the size.
_REBUILD_GROWTH: Final = 4


def _scan_pool() -> ThreadPoolExecutor:
    global _pool
    with _blas_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_SCAN_THREADS, thread_name_prefix="vector-scan")
        return _pool


def pin_blas_to_one_thread() -> None:
    """Limit the process's BLAS (OpenBLAS under numpy) to one thread, once.

    The scan is memory-bound, so a second BLAS thread gains little when the machine is idle,
    and when it is not (the embedding model ingesting on every core) OpenBLAS's threads wait
    for each other: a 1,400-row scan measured 16 ms with two threads against 0.09 ms with one.
    """
    global _blas_pinned
    with _blas_lock:
        if not _blas_pinned:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=1, user_api="blas")
            _blas_pinned = True


class VectorIndex:
    """Unit vectors under integer doc ids chosen by the caller; scores are dot products.

    Thread-safe: a background build of the clustered index runs beside searches and updates.
    Creating one pins BLAS to one thread process-wide (see `pin_blas_to_one_thread`) unless
    `single_threaded_blas` is False. `approximate_from=None` keeps every search exact;
    `background=False` builds the clustered index inline (tests).
    """

    def __init__(
        self,
        dimensions: int,
        *,
        single_threaded_blas: bool = True,
        approximate_from: int | None = DEFAULT_APPROXIMATE_FROM,
        background: bool = True,
    ) -> None:
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        if single_threaded_blas:
            pin_blas_to_one_thread()
        self.dimensions = dimensions
        self._lock = threading.RLock()
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)
        self._live = np.zeros(0, dtype=bool)
        self._size = 0
        self._live_count = 0
        self._approximate_from = approximate_from
        self._background = background
        self._clustered: ClusteredIndex | None = None
        # While a build runs: the ids changed since its snapshot, and which layout it saw
        # (a renumbering makes the snapshot's ids meaningless).
        self._touched_during_build: set[int] | None = None
        self._layout = 0
        self._built = threading.Condition(self._lock)

    def __len__(self) -> int:
        return self._live_count

    @property
    def size(self) -> int:
        """The length of score arrays: one past the largest doc id added (or renumbered to)."""
        return self._size

    @property
    def live(self) -> npt.NDArray[np.bool_]:
        """Which doc ids below `size` hold a vector (a read-only view)."""
        view = self._live[: self._size]
        view.flags.writeable = False
        return view

    @property
    def approximate(self) -> bool:
        """Whether searches currently go through the clustered index."""
        return self._clustered is not None

    def wait_until_built(self, timeout: float) -> bool:
        """Wait for a running clustered-index build to finish; False on timeout."""
        with self._built:
            return self._built.wait_for(lambda: self._touched_during_build is None, timeout)

    def add(
        self, doc_ids: Sequence[int] | npt.NDArray[np.int64], vectors: npt.NDArray[np.floating]
    ) -> None:
        """Store `vectors[i]` under `doc_ids[i]`, replacing what was there."""
        ids = np.asarray(doc_ids, dtype=np.int64)
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape != (len(ids), self.dimensions):
            raise ValueError(
                f"expected vectors of shape ({len(ids)}, {self.dimensions}), got {matrix.shape}"
            )
        if len(ids) == 0:
            return
        if ids.min() < 0 or len(np.unique(ids)) != len(ids):
            raise ValueError("doc ids must be unique and not negative")
        with self._lock:
            needed = int(ids.max()) + 1
            if needed > len(self._matrix):
                grown = max(needed, len(self._matrix) * 2, 1024)
                matrix_grown = np.zeros((grown, self.dimensions), dtype=np.float32)
                matrix_grown[: self._size] = self._matrix[: self._size]
                live_grown = np.zeros(grown, dtype=bool)
                live_grown[: self._size] = self._live[: self._size]
                self._matrix, self._live = matrix_grown, live_grown
            replaced = ids[self._live[ids]]
            self._live_count += len(ids) - len(replaced)
            self._matrix[ids] = matrix
            self._live[ids] = True
            self._size = max(self._size, needed)
            if self._clustered is not None:
                self._clustered.remove(replaced)
                self._clustered.add(ids, self._matrix[ids])
            if self._touched_during_build is not None:
                self._touched_during_build.update(ids.tolist())
            self._maybe_build()

    def remove(self, doc_ids: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Forget these doc ids (unknown ids are ignored)."""
        ids = np.asarray(doc_ids, dtype=np.int64)
        with self._lock:
            ids = np.unique(ids[(ids >= 0) & (ids < self._size)])
            ids = ids[self._live[ids]]
            self._live[ids] = False
            # A zero row scores 0, never a stale similarity.
            self._matrix[ids] = 0
            self._live_count -= len(ids)
            if self._clustered is not None:
                self._clustered.remove(ids)
            if self._touched_during_build is not None:
                self._touched_during_build.update(ids.tolist())

    def renumber(self, mapping: npt.NDArray[np.int64]) -> None:
        """Move doc `old` to `mapping[old]` (-1 drops it), compacting the matrix."""
        mapping = np.asarray(mapping, dtype=np.int64)[: self._size]
        with self._lock:
            if len(mapping) < self._size:
                raise ValueError("the mapping must cover every doc id")
            kept = mapping >= 0
            size = int(mapping.max()) + 1 if kept.any() else 0
            matrix = np.zeros((max(size, 1024), self.dimensions), dtype=np.float32)
            live = np.zeros(len(matrix), dtype=bool)
            matrix[mapping[kept]] = self._matrix[: self._size][kept]
            live[mapping[kept]] = self._live[: self._size][kept]
            self._matrix, self._live, self._size = matrix, live, size
            self._live_count = int(np.count_nonzero(live))
            # Ids changed meaning: exact scans until a clustered index of the new ids is built.
            self._layout += 1
            self._clustered = None
            self._touched_during_build = None
            self._built.notify_all()
            self._maybe_build()

    def scores(self, query: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Dot product of `query` with every doc id below `size` (0 for ids without a vector)."""
        vector = self._query(query)
        with self._lock:
            matrix = self._matrix[: self._size]
            if self._size < _PARALLEL_ROWS or _SCAN_THREADS == 1:
                result: npt.NDArray[np.float32] = matrix @ vector
                return result
            out = np.empty(self._size, dtype=np.float32)
            bounds = np.linspace(0, self._size, _SCAN_THREADS + 1).astype(np.int64)
            parts = [
                _scan_pool().submit(np.matmul, matrix[lo:hi], vector, out=out[lo:hi])
                for lo, hi in itertools.pairwise(bounds)
            ]
            for part in parts:
                part.result()
            return out

    def scores_of(
        self, query: npt.NDArray[np.floating], doc_ids: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Exact dot products of `query` with these doc ids (0 for ids without a vector)."""
        vector = self._query(query)
        with self._lock:
            ids = np.asarray(doc_ids, dtype=np.int64)
            inside = ids < self._size
            out = np.zeros(len(ids), dtype=np.float32)
            out[inside] = self._matrix[ids[inside]] @ vector
            return out

    def candidates(
        self,
        query: npt.NDArray[np.floating],
        count: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.int64] | None:
        """Up to `count` live (and allowed) doc ids likely to hold the best scores, from the
        clustered index; None when there is none yet (scan with `scores` instead)."""
        vector = self._query(query)
        with self._lock:
            clustered = self._clustered
            if clustered is None:
                return None
            mask = self._live[: self._size]
            if allowed is not None:
                mask = mask & _fit_mask(allowed, self._size)
                if not mask.all():
                    return clustered.candidates(vector, count, mask)
            return clustered.candidates(vector, count)

    def top_k(
        self,
        query: npt.NDArray[np.floating],
        k: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` most similar (doc id, score) pairs among live (and allowed) ids, best first."""
        with self._lock:
            proposed = self.candidates(query, max(k, MIN_CANDIDATES), allowed)
            if proposed is not None:
                candidates = proposed
                values = self.scores_of(query, candidates)
            else:
                scores = self.scores(query)
                mask = self._live[: self._size]
                if allowed is not None:
                    mask = mask & _fit_mask(allowed, self._size)
                candidates = np.flatnonzero(mask)
                values = scores[candidates]
        if k <= 0 or len(candidates) == 0:
            return []
        if k < len(candidates):
            best = np.argpartition(-values, k - 1)[:k]
            candidates, values = candidates[best], values[best]
        order = np.lexsort((candidates, -values))
        return [(int(candidates[i]), float(values[i])) for i in order]

    def _query(self, query: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dimensions,):
            raise ValueError(f"expected a query of {self.dimensions} dimensions")
        return vector

    def _maybe_build(self) -> None:
        """Start a clustered-index build when the store has become (or outgrown) its size."""
        if self._approximate_from is None or self._touched_during_build is not None:
            return
        if self._live_count < self._approximate_from:
            return
        current = self._clustered
        if current is not None and self._live_count < current.trained_rows * _REBUILD_GROWTH:
            return
        ids = np.flatnonzero(self._live[: self._size]).astype(np.int64)
        rows = self._matrix[ids]  # a copy: the build reads it without the lock
        self._touched_during_build = set()
        layout = self._layout
        if self._background:
            threading.Thread(
                target=self._build, args=(ids, rows, layout), name="vector-cluster", daemon=True
            ).start()
        else:
            self._build(ids, rows, layout)

    def _build(
        self, ids: npt.NDArray[np.int64], rows: npt.NDArray[np.float32], layout: int
    ) -> None:
        started = time.perf_counter()
        try:
            built: ClusteredIndex | None = ClusteredIndex.build(ids, rows)
        except Exception:  # the exact scan keeps serving; say why the fast path is missing
            log.exception("building the clustered vector index of %d vectors failed", len(ids))
            built = None
            self._approximate_from = None  # do not retry (and copy the matrix) on every add
        with self._lock:
            touched = self._touched_during_build
            if layout == self._layout and touched is not None and built is not None:
                # Replay what changed since the snapshot: drop those ids, re-add the live ones.
                changed = np.fromiter(touched, dtype=np.int64, count=len(touched))
                built.remove(changed)
                still = changed[self._live[changed]] if len(changed) else changed
                built.add(still, self._matrix[still])
                self._clustered = built
                log.info(
                    "clustered vector index of %d vectors built in %.1f s",
                    len(built),
                    time.perf_counter() - started,
                )
            if layout == self._layout:
                self._touched_during_build = None
            self._built.notify_all()


def _fit_mask(mask: npt.NDArray[np.bool_], size: int) -> npt.NDArray[np.bool_]:
    """`mask` cut or padded (with False) to `size` entries."""
    if len(mask) >= size:
        return mask[:size]
    out = np.zeros(size, dtype=bool)
    out[: len(mask)] = mask
    return out
