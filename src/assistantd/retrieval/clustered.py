"""An inverted-file index (faiss IVF, 8-bit codes) that proposes candidates for exact rescoring.

Past a few tens of thousands of vectors the exact scan is memory-bound (about 7 ms at 100k x 384
here); probing the clusters nearest to the query reads a sixteenth of the codes at a quarter of
the size. Scores from here are approximate: callers rescore the candidates exactly.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# k-means wants at least ~40 points per centroid; more only slows training.
_TRAINING_POINTS_PER_LIST: Final = 40
_MIN_LISTS: Final = 16
_MAX_LISTS: Final = 8192
# Probing 1/16 of the lists finds ~99% of the exact top 10 among the first 128 candidates on
# clustered sentence embeddings (bench/retrieval.py --chunks prints the agreement it measures).
_PROBE_FRACTION: Final = 16
_MIN_PROBES: Final = 8


def _faiss() -> Any:
    import faiss

    # One thread: single-query searches do not parallelise, and OpenMP workers spinning
    # between calls would take a core from the server's event loop.
    faiss.omp_set_num_threads(1)
    return faiss


def list_count(rows: int) -> int:
    """How many clusters for `rows` vectors: about 1.6 * sqrt(rows)."""
    return max(_MIN_LISTS, min(_MAX_LISTS, round(1.6 * math.sqrt(rows))))


class ClusteredIndex:
    """Vectors under integer ids, grouped around centroids learnt from the first rows given.

    Not thread-safe; faiss releases the GIL, so a build can run beside the server's work.
    """

    def __init__(self, index: Any, trained_rows: int) -> None:
        self._index = index
        self.trained_rows = trained_rows

    @classmethod
    def build(
        cls,
        ids: npt.NDArray[np.int64],
        rows: npt.NDArray[np.float32],
        *,
        seed: int = 0,
    ) -> ClusteredIndex:
        """Learn centroids from (a sample of) `rows` and add them all under `ids`."""
        faiss = _faiss()
        count, dimensions = rows.shape
        lists = list_count(count)
        if count < lists * 2:
            raise ValueError(f"too few vectors ({count}) to cluster into {lists} lists")
        quantizer = faiss.IndexFlatIP(dimensions)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimensions, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = seed
        sample_size = min(count, lists * _TRAINING_POINTS_PER_LIST)
        sample = np.random.default_rng(seed).choice(count, sample_size, replace=False)
        index.train(np.ascontiguousarray(rows[np.sort(sample)]))
        index.nprobe = max(_MIN_PROBES, lists // _PROBE_FRACTION)
        built = cls(index, count)
        built.add(ids, rows)
        return built

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: npt.NDArray[np.int64], rows: npt.NDArray[np.float32]) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(rows, dtype=np.float32),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: npt.NDArray[np.int64]) -> None:
        if len(ids):
            self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def candidates(
        self,
        query: npt.NDArray[np.float32],
        count: int,
        allowed: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.int64]:
        """Up to `count` ids near `query`, among the ids where `allowed` is True when given."""
        faiss = _faiss()
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is None:
            _, found = self._index.search(vector, count)
        else:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self._index.nprobe)
            _, found = self._index.search(vector, count, params=params)
        ids: npt.NDArray[np.int64] = found[0]
        return ids[ids >= 0]
