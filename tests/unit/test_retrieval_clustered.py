"""The clustered vector index of large stores: candidates, updates during and after a build,
and HybridIndex's candidate fusion agreeing with the exact search."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from assistantd.retrieval.clustered import ClusteredIndex, list_count
from assistantd.retrieval.index import HybridIndex, IndexedChunk
from assistantd.retrieval.vectors import VectorIndex

DIMENSIONS = 32


def clustered_vectors(count: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """Unit vectors around 50 centres, like sentence embeddings (random ones have no
    neighbourhoods for a clustered index to find)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIMENSIONS)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, count)] + 0.3 * rng.standard_normal(
        (count, DIMENSIONS)
    ).astype(np.float32)
    unit: npt.NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit.astype(np.float32)


def test_list_count_follows_the_size() -> None:
    assert list_count(100) == 16
    assert list_count(100_000) == 506
    assert list_count(10**9) == 8192


def test_clustered_index_finds_near_ids_and_honours_the_mask() -> None:
    vectors = clustered_vectors(3000)
    index = ClusteredIndex.build(np.arange(3000, dtype=np.int64) + 10, vectors)
    assert len(index) == 3000
    assert index.candidates(vectors[7], 5)[0] == 17
    odd = np.zeros(3010, dtype=bool)
    odd[1::2] = True
    found = index.candidates(vectors[7], 50, odd)
    assert len(found) > 0
    assert all(candidate % 2 == 1 for candidate in found)
    index.remove(np.array([17]))
    assert 17 not in index.candidates(vectors[7], 50)
    with pytest.raises(ValueError, match="too few"):
        ClusteredIndex.build(np.arange(10, dtype=np.int64), vectors[:10])


def test_vector_index_switches_to_candidates_past_the_threshold() -> None:
    vectors = clustered_vectors(2000)
    index = VectorIndex(DIMENSIONS, approximate_from=1000, background=False)
    index.add(np.arange(999), vectors[:999])
    assert not index.approximate
    assert index.candidates(vectors[0], 10) is None
    index.add(np.arange(999, 2000), vectors[999:])
    assert index.approximate
    exact = np.argsort(-(vectors @ vectors[5]))[:10]
    found = index.top_k(vectors[5], 10)
    assert found[0] == (5, pytest.approx(1.0))
    # Scores are exact dot products, whatever proposed the ids.
    for doc, score in found:
        assert score == pytest.approx(float(vectors[doc] @ vectors[5]), abs=1e-5)
    assert len({doc for doc, _ in found} & set(exact.tolist())) >= 9
    # Removed and replaced vectors are never proposed from their old place.
    index.remove([5])
    assert 5 not in [doc for doc, _ in index.top_k(vectors[5], 10)]
    index.add([6], vectors[100:101])
    assert index.top_k(vectors[100], 2)[0][1] == pytest.approx(1.0)
    assert {doc for doc, _ in index.top_k(vectors[100], 2)} == {6, 100}
    allowed = np.zeros(2000, dtype=bool)
    allowed[1000:] = True
    assert all(doc >= 1000 for doc, _ in index.top_k(vectors[3], 10, allowed))


def test_renumbering_rebuilds_for_the_new_ids() -> None:
    vectors = clustered_vectors(1500)
    index = VectorIndex(DIMENSIONS, approximate_from=1000, background=False)
    index.add(np.arange(1500), vectors)
    mapping = np.arange(1500, dtype=np.int64) - 100
    mapping[:100] = -1
    index.renumber(mapping)
    assert index.approximate
    assert len(index) == 1400
    assert index.top_k(vectors[700], 1)[0][0] == 600
    index.renumber(np.where(np.arange(1400) < 500, -1, np.arange(1400) - 500))
    assert not index.approximate  # 900 left: below the threshold, exact again
    assert index.top_k(vectors[700], 1)[0][0] == 100


def test_changes_made_during_a_background_build_are_kept() -> None:
    vectors = clustered_vectors(6000, seed=3)
    index = VectorIndex(DIMENSIONS, approximate_from=3000)
    index.add(np.arange(4000), vectors[:4000])  # starts a build from a snapshot
    index.remove(np.arange(0, 100))
    index.add(np.arange(4000, 6000), vectors[4000:])
    assert index.wait_until_built(60)
    assert index.approximate
    for probe in (50, 150, 4500, 5999):
        found = [doc for doc, _ in index.top_k(vectors[probe], 10)]
        if probe < 100:
            assert probe not in found
        else:
            assert found[0] == probe
    proposed = index.candidates(vectors[50], 500)
    assert proposed is not None
    assert not set(range(100)) & set(proposed.tolist())


def test_hybrid_candidate_fusion_agrees_with_the_exact_search() -> None:
    rng = np.random.default_rng(5)
    vocabulary = [f"w{i}" for i in range(400)]
    vectors = clustered_vectors(3000, seed=5)
    chunks = [
        IndexedChunk(
            chunk_id=str(i),
            file_id=f"file-{i % 7}",
            text=" ".join(rng.choice(vocabulary, 40)),
            vector=vectors[i],
        )
        for i in range(3000)
    ]
    index = HybridIndex(DIMENSIONS, approximate_from=1000, background=False)
    index.add(chunks)
    agreements = []
    for probe in range(0, 3000, 150):
        query = " ".join(rng.choice(vocabulary, 4))
        for allowed in (None, {"file-1", "file-2"}):
            served = index.search(query, vectors[probe], k=10, allowed_files=allowed)
            exact = index.search(query, vectors[probe], k=10, allowed_files=allowed, exact=True)
            assert served[0] == exact[0]
            if allowed:
                assert {hit.file_id for hit in served} <= allowed
            exact_scores = {hit.chunk_id: hit.score for hit in exact}
            for hit in served:
                if hit.chunk_id in exact_scores:
                    assert hit.score == pytest.approx(exact_scores[hit.chunk_id], abs=1e-6)
            agreements.append(len({h.chunk_id for h in served} & set(exact_scores)) / 10)
    assert np.mean(agreements) >= 0.97
