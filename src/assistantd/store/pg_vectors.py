"""PostgreSQL's side of hybrid search over `chunks`: candidates from the pgvector (`vec`) and
tsvector (`tsv`) columns (migration 0004), then both raw scores for every candidate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import RowMapping, bindparam, text

from assistantd.store.database import Conn

_KEYWORD = text(
    "SELECT seq FROM chunks, to_tsquery('english', :terms) AS q "
    "WHERE vector_store_id = :store AND file_id IN :files AND tsv @@ q "
    "ORDER BY ts_rank_cd(tsv, q, 32) DESC LIMIT :n"
).bindparams(bindparam("files", expanding=True))
_VECTOR = text(
    "SELECT seq FROM chunks WHERE vector_store_id = :store AND file_id IN :files "
    "ORDER BY vec <=> CAST(:vec AS vector) LIMIT :n"
).bindparams(bindparam("files", expanding=True))
_SCORES = text(
    "SELECT seq, file_id, 1 - (vec <=> CAST(:vec AS vector)) AS similarity, "
    "CASE WHEN :terms = '' THEN 0 ELSE ts_rank_cd(tsv, to_tsquery('english', :terms), 32) END "
    "AS keyword FROM chunks WHERE seq IN :seqs"
).bindparams(bindparam("seqs", expanding=True))


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    """A vector as pgvector's text form, `[x,y,...]`."""
    return "[" + ",".join(f"{value:.7g}" for value in vector.tolist()) + "]"


async def scored_candidates(
    conn: Conn,
    store_id: str,
    file_ids: Sequence[str],
    terms: str,
    vector: npt.NDArray[np.float32],
    *,
    candidates: int,
) -> list[RowMapping]:
    """The store's chunks (of `file_ids`) nearest to `vector`, and those best matching the
    tsquery `terms` (none when it is ""), up to `candidates` of each: `seq`, `file_id`,
    `similarity` (cosine) and `keyword` (`ts_rank_cd`, 0 without terms), in no set order."""
    literal = vector_literal(vector)
    common: dict[str, Any] = {"store": store_id, "files": list(file_ids), "n": candidates}
    seqs = {row.seq for row in await conn.execute(_VECTOR, {**common, "vec": literal})}
    if terms:
        seqs |= {row.seq for row in await conn.execute(_KEYWORD, {**common, "terms": terms})}
    if not seqs:
        return []
    params = {"vec": literal, "terms": terms, "seqs": list(seqs)}
    return list((await conn.execute(_SCORES, params)).mappings().all())
