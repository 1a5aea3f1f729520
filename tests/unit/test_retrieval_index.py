"""Vector index, score fusion and HybridIndex: add, replace, remove, filter, thresholds."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from assistantd.retrieval.fusion import HybridWeights, fuse, reciprocal_rank_fusion
from assistantd.retrieval.index import Hit, HybridIndex, IndexedChunk
from assistantd.retrieval.vectors import VectorIndex


def unit(*values: float) -> npt.NDArray[np.float32]:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_vector_index_top_k_remove_renumber() -> None:
    index = VectorIndex(2)
    index.add([0, 1, 2], np.stack([unit(1, 0), unit(1, 1), unit(0, 1)]))
    assert [d for d, _ in index.top_k(unit(1, 0), 3)] == [0, 1, 2]
    assert index.top_k(unit(1, 0), 1)[0] == (0, pytest.approx(1.0))
    assert [d for d, _ in index.top_k(unit(1, 0), 3, np.array([False, True, True]))] == [1, 2]
    index.remove([0])
    assert len(index) == 2
    assert [d for d, _ in index.top_k(unit(1, 0), 3)] == [1, 2]
    index.renumber(np.array([-1, 0, 1]))
    assert index.size == 2
    assert [d for d, _ in index.top_k(unit(0, 1), 3)] == [1, 0]
    np.testing.assert_allclose(index.scores(unit(0, 1)), [np.sqrt(0.5), 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        index.add([5], np.zeros((1, 3), dtype=np.float32))


def test_vector_index_grows() -> None:
    index = VectorIndex(4)
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((3000, 4)).astype(np.float32)
    for start in range(0, 3000, 700):
        ids = np.arange(start, min(3000, start + 700))
        index.add(ids, vectors[ids])
    np.testing.assert_allclose(index.scores(vectors[7]), vectors @ vectors[7], rtol=1e-5)


def test_fuse_range_and_weights() -> None:
    similarity = np.array([-0.3, 0.0, 0.5, 1.0], dtype=np.float32)
    keyword = np.array([0.0, 1.0, 0.5, 0.25], dtype=np.float32)
    fused = fuse(similarity, keyword, HybridWeights(1, 1))
    np.testing.assert_allclose(fused, [0.0, 0.5, 0.5, 0.625])
    np.testing.assert_allclose(fuse(similarity, keyword, HybridWeights(3, 0)), [0, 0, 0.5, 1])
    np.testing.assert_allclose(fuse(similarity, keyword, HybridWeights(0, 2)), keyword)
    rng = np.random.default_rng(0)
    random = fuse(
        rng.uniform(-1, 1, 1000).astype(np.float32),
        rng.uniform(0, 1, 1000).astype(np.float32),
        HybridWeights(0.7, 0.2),
    )
    assert random.min() >= 0
    assert random.max() <= 1


def test_weights_validation() -> None:
    assert HybridWeights(3, 1).normalised() == (0.75, 0.25)
    with pytest.raises(ValueError, match="negative"):
        HybridWeights(-1, 1)
    with pytest.raises(ValueError, match="positive"):
        HybridWeights(0, 0)


def test_reciprocal_rank_fusion_is_scaled_to_one() -> None:
    fused = reciprocal_rank_fusion([(np.array([2, 0]), 1.0), (np.array([2, 1]), 1.0)], size=3, k=60)
    assert fused[2] == pytest.approx(1.0)
    assert fused[0] == pytest.approx(fused[1]) == pytest.approx((1 / 62) / (2 / 61))


def chunk(chunk_id: str, file_id: str, text: str, *vector: float) -> IndexedChunk:
    return IndexedChunk(chunk_id, file_id, text, unit(*vector))


@pytest.fixture
def index() -> HybridIndex:
    index = HybridIndex(3)
    index.add(
        [
            chunk("a1", "fa", "supersonic flow over a wedge", 1, 0, 0),
            chunk("a2", "fa", "boundary layer transition", 0, 1, 0),
            chunk("b1", "fb", "heat transfer in slabs", 0, 0, 1),
            chunk("b2", "fb", "supersonic wedge heat", 1, 0, 1),
        ]
    )
    return index


def ids(hits: list[Hit]) -> list[str]:
    return [hit.chunk_id for hit in hits]


def test_hybrid_search_combines_both_sides(index: HybridIndex) -> None:
    hits = index.search("supersonic wedge", unit(1, 0, 0), k=10)
    assert ids(hits)[:2] == ["a1", "b2"]
    assert hits[0].file_id == "fa"
    assert all(0 <= h.score <= 1 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Keyword-only and vector-only weightings.
    assert ids(index.search("heat", unit(1, 0, 0), k=2, weights=HybridWeights(0, 1))) == [
        "b1", "b2",
    ]  # fmt: skip
    assert ids(index.search("heat", unit(0, 1, 0), k=1, weights=HybridWeights(1, 0))) == ["a2"]


def test_filter_threshold_and_k(index: HybridIndex) -> None:
    assert ids(index.search("supersonic", unit(1, 0, 0), k=10, allowed_files={"fb"})) == ["b2"]
    assert ids(index.search("heat", unit(1, 0, 1), k=10, allowed_files={"fb", "x"})) == [
        "b2", "b1",
    ]  # fmt: skip
    # Chunks without any evidence (no shared word, no positive similarity) are not hits.
    assert ids(index.search("transition", unit(0, 1, 0), k=10)) == ["a2"]
    assert index.search("supersonic", unit(1, 0, 0), k=10, allowed_files=set()) == []
    assert index.search("supersonic", unit(1, 0, 0), k=10, allowed_files={"nope"}) == []
    assert len(index.search("supersonic", unit(1, 0, 0), k=2)) == 2
    everything = index.search("supersonic", unit(1, 0, 0), k=10)
    cut = everything[1].score
    assert ids(index.search("supersonic", unit(1, 0, 0), k=10, score_threshold=cut)) == ids(
        everything[:2]
    )
    assert index.search("supersonic", unit(1, 0, 0), k=10, score_threshold=1.01) == []


def test_remove_file_and_replace(index: HybridIndex) -> None:
    assert index.remove_file("fa") == 2
    assert index.remove_file("fa") == 0
    assert len(index) == 2
    assert index.file_ids() == {"fb"}
    assert ids(index.search("supersonic boundary heat", unit(1, 1, 0), k=10)) == ["b2", "b1"]
    index.add([chunk("b1", "fb", "boundary layer again", 0, 1, 0)])
    assert len(index) == 2
    assert ids(index.search("boundary", unit(0, 1, 0), k=1)) == ["b1"]
    # The replacement's vector (cosine 1) and text are what is scored now.
    keyword = index.search("boundary", unit(0, 1, 0), k=1, weights=HybridWeights(0, 1))[0].score
    hybrid = index.search("boundary", unit(0, 1, 0), k=1, weights=HybridWeights(1, 1))[0].score
    assert hybrid == pytest.approx(0.5 + 0.5 * keyword)
    default = index.search("boundary", unit(0, 1, 0), k=1)[0].score
    assert default == pytest.approx(0.45 + 0.55 * keyword)


def test_compaction_keeps_results() -> None:
    index = HybridIndex(2)
    rng = np.random.default_rng(3)
    for f in range(40):
        index.add(
            [
                IndexedChunk(f"c{f}-{i}", f"f{f}", f"file{f} chunk{i} shared", unit(*rng.random(2)))
                for i in range(60)
            ]
        )
    for f in range(0, 40, 2):
        index.remove_file(f"f{f}")
    assert len(index) == 1200
    # Compaction ran when 1,080 chunks (>= 1,024) were dead; two files were removed after it.
    assert len(index._chunk_of) == 1320
    hits = index.search("file7 chunk3", unit(1, 1), k=1)
    assert ids(hits) == ["c7-3"]
    assert hits[0].file_id == "f7"
    assert index.search("file8", unit(1, 1), k=5, weights=HybridWeights(0, 1)) == []
    only_f9 = index.search("shared", unit(1, 1), k=2000, allowed_files={"f9"})
    assert sorted(ids(only_f9)) == sorted(f"c9-{i}" for i in range(60))
    assert {h.file_id for h in only_f9} == {"f9"}


def test_bad_vectors(index: HybridIndex) -> None:
    with pytest.raises(ValueError, match="3 dimensions"):
        index.add([chunk("x", "fx", "text", 1, 0)])
    with pytest.raises(ValueError, match="unique"):
        index.add([chunk("x", "fx", "t", 1, 0, 0), chunk("x", "fx", "t", 0, 1, 0)])


def test_large_scans_are_split_exactly() -> None:
    index = VectorIndex(8, approximate_from=None)
    vectors = np.random.default_rng(2).standard_normal((40_000, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.add(np.arange(40_000), vectors)
    query = vectors[123]
    np.testing.assert_allclose(index.scores(query), vectors @ query, rtol=1e-5, atol=1e-5)
    assert index.top_k(query, 1)[0][0] == 123
