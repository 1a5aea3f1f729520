"""Fusion of keyword and vector evidence into one score in 0..1 that `score_threshold` can use.

See `fuse` for what a score means and why a convex combination rather than rank fusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

# Tuned on the odd-numbered Cranfield queries (bench/retrieval_library.py --sweep), checked on
# the even ones; anything from 0.4 to 0.55 is within 0.005 nDCG@10.
DEFAULT_EMBEDDING_WEIGHT: Final = 0.45
DEFAULT_TEXT_WEIGHT: Final = 0.55
RRF_K: Final = 60


@dataclass(frozen=True, slots=True)
class HybridWeights:
    """Relative weights of the two sides (the API's `hybrid_search` options); any scale."""

    embedding_weight: float = DEFAULT_EMBEDDING_WEIGHT
    text_weight: float = DEFAULT_TEXT_WEIGHT

    def __post_init__(self) -> None:
        if self.embedding_weight < 0 or self.text_weight < 0:
            raise ValueError("hybrid search weights must not be negative")
        if self.embedding_weight + self.text_weight <= 0:
            raise ValueError("at least one hybrid search weight must be positive")

    def normalised(self) -> tuple[float, float]:
        """(embedding, text) weights summing to 1."""
        total = self.embedding_weight + self.text_weight
        return self.embedding_weight / total, self.text_weight / total


def fuse(
    similarity: npt.NDArray[np.float32],
    keyword: npt.NDArray[np.float32],
    weights: HybridWeights,
) -> npt.NDArray[np.float32]:
    """Convex combination of cosine similarity (negatives count as 0) and the keyword score
    as a fraction of what the query could reach (`KeywordScores.normalised`).

    Both inputs are absolute, per-document measures, so the result is too: a chunk's score
    does not depend on which other chunks happen to be in the store, unlike min-max or rank
    fusion, and a threshold means the same for every query. A score of 0.5 with equal weights
    is, for instance, a chunk as similar as a close paraphrase (cosine ~0.6) that also holds
    a good part of the query's rarer words. Score fusion also keeps the margin information
    that ranks throw away: on Cranfield it beats reciprocal rank fusion (see the bench).
    """
    embedding_weight, text_weight = weights.normalised()
    fused = np.clip(similarity, 0.0, 1.0) * np.float32(embedding_weight)
    if text_weight:
        fused += np.clip(keyword, 0.0, 1.0) * np.float32(text_weight)
    return fused.astype(np.float32, copy=False)


def reciprocal_rank_fusion(
    rankings: list[tuple[npt.NDArray[np.int64], float]], size: int, k: int = RRF_K
) -> npt.NDArray[np.float32]:
    """Weighted RRF over ranked id lists, divided by its ceiling (first in every list) so it
    lies in 0..1. Kept for comparison: its scores only say where a chunk ranked."""
    fused = np.zeros(size, dtype=np.float32)
    ceiling = 0.0
    for ranked, weight in rankings:
        if weight <= 0:
            continue
        fused[ranked] += np.float32(weight) / (k + 1 + np.arange(len(ranked), dtype=np.float32))
        ceiling += weight / (k + 1)
    if ceiling > 0:
        fused /= np.float32(ceiling)
    return fused
