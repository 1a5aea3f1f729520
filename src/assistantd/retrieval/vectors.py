"""Exact vector search: a growable float32 matrix scanned with one matrix-vector product.

At 100k x 384 a scan is a few milliseconds, so no approximate index is needed at this scale.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
import numpy.typing as npt

_blas_lock = threading.Lock()
_blas_pinned = False
# Large scans are split across threads of our own (BLAS releases the GIL): the parallelism
# OpenBLAS would give, without its spinning barrier. Below this many rows one thread is faster.
_PARALLEL_ROWS: Final = 32_768
_SCAN_THREADS: Final = max(1, min(4, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None


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

    Creating one pins BLAS to one thread process-wide (see `pin_blas_to_one_thread`) unless
    `single_threaded_blas` is False.
    """

    def __init__(self, dimensions: int, *, single_threaded_blas: bool = True) -> None:
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        if single_threaded_blas:
            pin_blas_to_one_thread()
        self.dimensions = dimensions
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)
        self._live = np.zeros(0, dtype=bool)
        self._size = 0
        self._live_count = 0

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
        needed = int(ids.max()) + 1
        if needed > len(self._matrix):
            grown = max(needed, len(self._matrix) * 2, 1024)
            matrix_grown = np.zeros((grown, self.dimensions), dtype=np.float32)
            matrix_grown[: self._size] = self._matrix[: self._size]
            live_grown = np.zeros(grown, dtype=bool)
            live_grown[: self._size] = self._live[: self._size]
            self._matrix, self._live = matrix_grown, live_grown
        self._live_count += len(ids) - int(np.count_nonzero(self._live[ids]))
        self._matrix[ids] = matrix
        self._live[ids] = True
        self._size = max(self._size, needed)

    def remove(self, doc_ids: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Forget these doc ids (unknown ids are ignored)."""
        ids = np.asarray(doc_ids, dtype=np.int64)
        ids = np.unique(ids[(ids >= 0) & (ids < self._size)])
        ids = ids[self._live[ids]]
        self._live[ids] = False
        # A zero row scores 0, never a stale similarity.
        self._matrix[ids] = 0
        self._live_count -= len(ids)

    def renumber(self, mapping: npt.NDArray[np.int64]) -> None:
        """Move doc `old` to `mapping[old]` (-1 drops it), compacting the matrix."""
        mapping = np.asarray(mapping, dtype=np.int64)[: self._size]
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

    def scores(self, query: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Dot product of `query` with every doc id below `size` (0 for ids without a vector)."""
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dimensions,):
            raise ValueError(f"expected a query of {self.dimensions} dimensions")
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

    def top_k(
        self,
        query: npt.NDArray[np.floating],
        k: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` most similar (doc id, score) pairs among live (and allowed) ids, best first."""
        scores = self.scores(query)
        mask = self._live[: self._size]
        if allowed is not None:
            mask = mask & allowed[: self._size]
        candidates = np.flatnonzero(mask)
        if k <= 0 or len(candidates) == 0:
            return []
        values = scores[candidates]
        if k < len(candidates):
            best = np.argpartition(-values, k - 1)[:k]
            candidates, values = candidates[best], values[best]
        order = np.lexsort((candidates, -values))
        return [(int(candidates[i]), float(values[i])) for i in order]
