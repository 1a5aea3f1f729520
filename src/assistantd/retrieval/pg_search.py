"""Hybrid search inside PostgreSQL: candidates from the tsvector (keyword) and pgvector
(vector) columns of `chunks` (queried by `store.pg_vectors`), then both scores for every
candidate, fused like the in-memory index does. Keyword evidence is `ts_rank_cd` scaled to
0..1 (rank / (rank + 1)), which is not the in-memory index's BM25 fraction: scores are
comparable in range, not identical."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.fusion import HybridWeights, fuse
from assistantd.store import pg_vectors
from assistantd.store.database import Database

CANDIDATES = 100
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class PgHit:
    chunk_id: str
    file_id: str
    score: float


def or_query(query: str) -> str:
    """Any of the query's words (PostgreSQL applies stemming and stop words to each)."""
    return " | ".join(dict.fromkeys(word.lower() for word in _WORD.findall(query)))


class PostgresSearch:
    def __init__(self, db: Database, weights: HybridWeights | None = None) -> None:
        self._db = db
        self._weights = weights or HybridWeights()

    async def search(
        self,
        store_id: str,
        files: list[str],
        query: str,
        vector: npt.NDArray[np.float32],
        *,
        k: int,
        score_threshold: float,
    ) -> list[PgHit]:
        if not files:
            return []
        terms = or_query(query)
        async with self._db.read() as conn:
            rows = await pg_vectors.scored_candidates(
                conn, store_id, files, terms, vector, candidates=CANDIDATES
            )
        if not rows:
            return []
        similarity = np.asarray([row["similarity"] or 0.0 for row in rows], dtype=np.float32)
        rank = np.asarray([row["keyword"] or 0.0 for row in rows], dtype=np.float32)
        fused = fuse(similarity, rank, self._weights)
        order = np.argsort(-fused, kind="stable")
        hits = []
        for position in order[:k]:
            score = float(fused[position])
            if score <= 0 or score < score_threshold:
                continue
            row = rows[position]
            hits.append(PgHit(chunk_id=str(row["seq"]), file_id=row["file_id"], score=score))
        return hits
