"""HybridIndex: the in-memory search index of one vector store (BM25 + vectors + fusion).

Thread-safe through one lock: searches and updates come from worker threads of one process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.fusion import HybridWeights, fuse
from assistantd.retrieval.keyword import BM25Index, BM25Params
from assistantd.retrieval.vectors import DEFAULT_APPROXIMATE_FROM, MIN_CANDIDATES, VectorIndex

# Removed chunks leave holes; compacting once they are a quarter of the slots bounds the waste
# at a cost amortised over the removals.
_COMPACT_FRACTION: Final = 0.25
_COMPACT_MIN: Final = 1024
# Large stores fuse only candidates: this many per result wanted from each side, at least
# MIN_CANDIDATES (see `_fuse_candidates` for the chunks added to them).
_CANDIDATES_PER_RESULT: Final = 8
# Past this many keyword contenders to rescore, one exact scan of everything is as cheap.
_MAX_EXTRA_RESCORED: Final = 20_000


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """A chunk to index: its text for BM25, its embedding (unit length), and an optional
    title (document title or file name) that BM25 weights as a field of its own."""

    chunk_id: str
    file_id: str
    text: str
    vector: npt.NDArray[np.float32]
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: str
    file_id: str
    score: float


class HybridIndex:
    """Chunks of one vector store, searchable by text and vector at once."""

    def __init__(
        self,
        dimensions: int,
        *,
        bm25: BM25Params | None = None,
        weights: HybridWeights | None = None,
        approximate_from: int | None = DEFAULT_APPROXIMATE_FROM,
        background: bool = True,
    ) -> None:
        """`approximate_from` and `background`: see `VectorIndex`."""
        self.dimensions = dimensions
        self.default_weights = weights or HybridWeights()
        self._lock = threading.RLock()
        self._keyword = BM25Index(bm25)
        self._vectors = VectorIndex(
            dimensions, approximate_from=approximate_from, background=background
        )
        self._slot_of: dict[str, int] = {}
        self._chunk_of: list[str | None] = []
        self._file_code_of_slot = np.zeros(0, dtype=np.int32)
        self._file_codes: dict[str, int] = {}
        self._file_names: list[str] = []
        self._slots_of_file: dict[str, list[int]] = {}
        self._dead = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._slot_of)

    def wait_until_built(self, timeout: float) -> bool:
        """Wait for a background build of the clustered vector index; False on timeout."""
        return self._vectors.wait_until_built(timeout)

    def file_ids(self) -> set[str]:
        with self._lock:
            return set(self._slots_of_file)

    def add(self, chunks: Sequence[IndexedChunk]) -> None:
        """Index chunks; a chunk id already present is replaced."""
        if not chunks:
            return
        matrix = np.stack([np.asarray(c.vector, dtype=np.float32).reshape(-1) for c in chunks])
        if matrix.shape[1] != self.dimensions:
            raise ValueError(f"expected vectors of {self.dimensions} dimensions")
        if len({c.chunk_id for c in chunks}) != len(chunks):
            raise ValueError("chunk ids must be unique within one add")
        with self._lock:
            replaced = [self._slot_of[c.chunk_id] for c in chunks if c.chunk_id in self._slot_of]
            if replaced:
                self._drop_slots(replaced)
            first = len(self._chunk_of)
            slots = np.arange(first, first + len(chunks), dtype=np.int64)
            codes = np.empty(len(chunks), dtype=np.int32)
            for i, chunk in enumerate(chunks):
                slot = first + i
                self._slot_of[chunk.chunk_id] = slot
                self._chunk_of.append(chunk.chunk_id)
                codes[i] = self._file_code(chunk.file_id)
                self._slots_of_file.setdefault(chunk.file_id, []).append(slot)
            self._file_code_of_slot = np.concatenate((self._file_code_of_slot, codes))
            self._keyword.add(slots, [c.text for c in chunks], [c.title for c in chunks])
            self._vectors.add(slots, matrix)

    def remove_file(self, file_id: str) -> int:
        """Remove every chunk of a file; returns how many there were."""
        with self._lock:
            slots = self._slots_of_file.pop(file_id, [])
            self._drop_slots(slots)
            self._maybe_compact()
            return len(slots)

    def search(
        self,
        query: str,
        query_vector: npt.NDArray[np.float32],
        *,
        k: int,
        allowed_files: set[str] | None = None,
        score_threshold: float = 0.0,
        weights: HybridWeights | None = None,
        exact: bool = False,
    ) -> list[Hit]:
        """The `k` best chunks scoring at least `score_threshold` (0..1) and above 0, best first.

        `query` feeds the keyword side (pass the rewritten query there), `query_vector` the
        vector side. `allowed_files` restricts the hits to those files (None: all files).
        Large stores fuse only the candidates of both sides (the keyword side's best and the
        clustered vector index's proposals, rescored exactly); `exact` fuses every chunk.
        """
        weights = weights or self.default_weights
        with self._lock:
            size = len(self._chunk_of)
            if k <= 0 or size == 0:
                return []
            mask = self._allowed_slots(allowed_files)
            embedding_weight, text_weight = weights.normalised()
            keyword = self._keyword_scores(query, size, text_weight)
            wanted = max(MIN_CANDIDATES, _CANDIDATES_PER_RESULT * k)
            proposed = (
                None
                if exact or embedding_weight == 0
                else self._vectors.candidates(query_vector, wanted, mask)
            )
            if proposed is None:
                similarity = self._vectors_scores(query_vector, size, embedding_weight)
                fused = fuse(similarity, keyword, weights)
                fused[~mask] = -1.0
                return self._top(np.arange(size), fused, k, score_threshold)
            return self._fuse_candidates(
                proposed, query_vector, keyword, mask, weights, k, score_threshold
            )

    def _fuse_candidates(
        self,
        proposed: npt.NDArray[np.int64],
        query_vector: npt.NDArray[np.float32],
        keyword: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_],
        weights: HybridWeights,
        k: int,
        threshold: float,
    ) -> list[Hit]:
        """Fuse the vector side's proposals with every chunk whose keyword score alone could
        still lift it into the top `k`: as exact as the proposals are complete.

        A chunk that was not proposed is taken to be no more similar than the least similar
        proposal (`floor`), so its fused score is at most `floor * w_e + keyword * w_t`.
        """
        embedding_weight, text_weight = weights.normalised()
        similarity = self._vectors.scores_of(query_vector, proposed)
        slots = np.union1d(proposed, _best(keyword, mask, len(proposed)))
        fused = fuse(self._vectors.scores_of(query_vector, slots), keyword[slots], weights)
        if text_weight > 0:
            floor = max(float(similarity.min()), 0.0) if len(similarity) else 0.0
            kth = float(np.partition(fused, -k)[-k]) if len(fused) >= k else 0.0
            needed = (max(kth, threshold) - embedding_weight * floor) / text_weight
            contenders = np.flatnonzero(mask & (keyword > max(needed, 0.0)))
            extra = np.setdiff1d(contenders, slots, assume_unique=True)
            if len(extra) > _MAX_EXTRA_RESCORED:
                size = len(keyword)
                similarity_all = self._vectors_scores(query_vector, size, embedding_weight)
                every = fuse(similarity_all, keyword, weights)
                every[~mask] = -1.0
                return self._top(np.arange(size), every, k, threshold)
            if len(extra):
                slots = np.concatenate((slots, extra))
                extra_fused = fuse(
                    self._vectors.scores_of(query_vector, extra), keyword[extra], weights
                )
                fused = np.concatenate((fused, extra_fused))
        return self._top(slots, fused, k, threshold)

    def _allowed_slots(self, allowed_files: set[str] | None) -> npt.NDArray[np.bool_]:
        """Live slots, of the allowed files only when given."""
        if allowed_files is None:
            live: npt.NDArray[np.bool_] = self._file_code_of_slot >= 0  # dead slots hold -1
            return live
        # Indexed by file code + 1, so that the -1 of dead slots reads entry 0 (False).
        allowed = np.zeros(len(self._file_names) + 1, dtype=bool)
        codes = [self._file_codes[f] for f in allowed_files if f in self._file_codes]
        allowed[np.asarray(codes, dtype=np.int64) + 1] = True
        mask: npt.NDArray[np.bool_] = allowed[self._file_code_of_slot + 1]
        return mask

    def _vectors_scores(
        self, query_vector: npt.NDArray[np.float32], size: int, weight: float
    ) -> npt.NDArray[np.float32]:
        if weight == 0:
            return np.zeros(size, dtype=np.float32)
        return _fit(self._vectors.scores(query_vector), size)

    def _keyword_scores(self, query: str, size: int, weight: float) -> npt.NDArray[np.float32]:
        if weight == 0:
            return np.zeros(size, dtype=np.float32)
        return _fit(self._keyword.search(query).normalised(), size)

    def _top(
        self,
        slots: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
        k: int,
        threshold: float,
    ) -> list[Hit]:
        """The `k` best of `slots` by `scores` (aligned with them), best first, ties by slot."""
        picked = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        # A score of 0 is no evidence at all (no shared word, no positive similarity).
        value = scores[picked]
        picked = picked[(value >= threshold) & (value > 0)]
        order = np.lexsort((slots[picked], -scores[picked]))
        hits: list[Hit] = []
        for position in picked[order]:
            slot = int(slots[position])
            chunk_id = self._chunk_of[slot]
            assert chunk_id is not None
            code = int(self._file_code_of_slot[slot])
            hits.append(Hit(chunk_id, self._file_names[code], float(scores[position])))
        return hits

    def _file_code(self, file_id: str) -> int:
        code = self._file_codes.get(file_id)
        if code is None:
            code = self._file_codes[file_id] = len(self._file_names)
            self._file_names.append(file_id)
        return code

    def _drop_slots(self, slots: Sequence[int]) -> None:
        if not slots:
            return
        ids = np.asarray(slots, dtype=np.int64)
        for slot in slots:
            chunk_id = self._chunk_of[slot]
            if chunk_id is not None:
                del self._slot_of[chunk_id]
                self._chunk_of[slot] = None
        file_codes = set(self._file_code_of_slot[ids].tolist())
        self._file_code_of_slot[ids] = -1
        self._keyword.remove(ids)
        self._vectors.remove(ids)
        self._dead += len(slots)
        # A replaced chunk leaves its slot in its file's list: forget it there too.
        for code in file_codes:
            name = self._file_names[code]
            remaining = self._slots_of_file.get(name)
            if remaining is not None:
                dropped = set(slots)
                kept = [s for s in remaining if s not in dropped]
                if kept:
                    self._slots_of_file[name] = kept
                else:
                    del self._slots_of_file[name]

    def _maybe_compact(self) -> None:
        total = len(self._chunk_of)
        if self._dead < max(_COMPACT_MIN, _COMPACT_FRACTION * total):
            return
        live = self._file_code_of_slot >= 0
        mapping = np.where(live, np.cumsum(live) - 1, -1).astype(np.int64)
        self._keyword.renumber(mapping)
        self._vectors.renumber(mapping)
        self._chunk_of = [c for c in self._chunk_of if c is not None]
        self._slot_of = {c: slot for slot, c in enumerate(self._chunk_of) if c is not None}
        self._file_code_of_slot = self._file_code_of_slot[live]
        self._slots_of_file = {}
        for slot, code in enumerate(self._file_code_of_slot.tolist()):
            self._slots_of_file.setdefault(self._file_names[code], []).append(slot)
        self._dead = 0


def _best(
    scores: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_], count: int
) -> npt.NDArray[np.int64]:
    """The (up to) `count` slots with the highest positive `scores` where `mask` holds."""
    eligible = np.flatnonzero(mask & (scores > 0))
    if len(eligible) > count:
        eligible = eligible[np.argpartition(-scores[eligible], count - 1)[:count]]
    return eligible


def _fit(scores: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.float32]:
    """Scores padded or cut to `size` (a side may not have seen the last slots' ids)."""
    if len(scores) == size:
        return scores
    out = np.zeros(size, dtype=np.float32)
    n = min(size, len(scores))
    out[:n] = scores[:n]
    return out
