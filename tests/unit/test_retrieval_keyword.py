"""Analyzer, Porter stemmer, BM25 scores against the formula, add/remove/renumber, rewriting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistantd.retrieval.keyword import Analyzer, BM25Index, BM25Params, top_positive
from assistantd.retrieval.query import rewrite_query
from assistantd.retrieval.stem import porter_stem

CORPUS = {
    0: "The cat sat on the mat.",
    1: "Dogs and cats living together!",
    2: "A bird flew over the flowing river.",
    3: "cat cat cat",
}


@pytest.mark.parametrize(
    ("word", "stem"),
    [("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("agreed", "agre"),
     ("motoring", "motor"), ("hopping", "hop"), ("filing", "file"), ("happy", "happi"),
     ("relational", "relat"), ("conditional", "condit"), ("digitizer", "digit"),
     ("generalizations", "gener"), ("oscillators", "oscil"), ("aerodynamics", "aerodynam"),
     ("flows", "flow"), ("flowing", "flow"), ("adjustment", "adjust"), ("controll", "control"),
     ("is", "is"), ("x2", "x2")],
)  # fmt: skip
def test_porter_stem(word: str, stem: str) -> None:
    assert porter_stem(word) == stem


def test_analyzer() -> None:
    analyzer = Analyzer()
    assert analyzer.terms("The Flows of heated_gas, at 3 km/s; it's HOT!") == [
        "flow", "heat", "ga", "3", "km", "hot",
    ]  # fmt: skip
    assert analyzer.terms("Ünïcode wörds 日本語") == ["ünïcode", "wörd", "日本語"]
    assert analyzer.terms("the of and") == []


def expected_bm25(query: list[str], doc: int, corpus: dict[int, str], k1: float, b: float) -> float:
    """BM25 straight from its definition, for the index to match."""
    analyzer = Analyzer()
    docs = {d: analyzer.terms(t) for d, t in corpus.items()}
    average = sum(len(t) for t in docs.values()) / len(docs)
    score = 0.0
    for term in query:
        df = sum(term in t for t in docs.values())
        tf = docs[doc].count(term)
        if not df or not tf:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(docs[doc]) / average))
    return score


def build(corpus: dict[int, str] = CORPUS, params: BM25Params | None = None) -> BM25Index:
    index = BM25Index(params)
    index.add(list(corpus), list(corpus.values()))
    return index


@pytest.mark.parametrize("params", [BM25Params(), BM25Params(k1=2.0, b=0.3)])
def test_scores_match_the_formula(params: BM25Params) -> None:
    index = build(params=params)
    result = index.search("cats on a flowing river")
    query = ["cat", "flow", "river"]
    for doc in CORPUS:
        assert result.scores[doc] == pytest.approx(
            expected_bm25(query, doc, CORPUS, params.k1, params.b), rel=1e-5
        )
    ceiling = sum(math.log(1 + (4 - df + 0.5) / (df + 0.5)) * (params.k1 + 1) for df in (3, 1, 1))
    assert result.max_score == pytest.approx(ceiling, rel=1e-6)
    assert np.all((result.normalised() >= 0) & (result.normalised() < 1))


def test_top_k_orders_and_filters() -> None:
    index = build()
    ranked = index.top_k("cat", 10)
    assert [doc for doc, _ in ranked] == [3, 0, 1]
    assert ranked[0][1] > ranked[1][1] > ranked[2][1] > 0
    assert [doc for doc, _ in index.top_k("cat", 2)] == [3, 0]
    allowed = np.array([False, True, True, False])
    assert [doc for doc, _ in index.top_k("cat", 10, allowed)] == [1]
    assert index.top_k("unknownword", 10) == []
    assert index.top_k("", 10) == []


def test_remove_updates_statistics() -> None:
    index = build(params=BM25Params(k1=1.2, b=0.75))
    index.remove([3, 99])
    assert len(index) == 3
    remaining = {d: t for d, t in CORPUS.items() if d != 3}
    result = index.search("cat")
    assert result.scores[3] == 0
    for doc in remaining:
        assert result.scores[doc] == pytest.approx(
            expected_bm25(["cat"], doc, remaining, 1.2, 0.75), rel=1e-5
        )


def test_re_adding_an_id_replaces_it() -> None:
    index = build()
    index.add([0], ["a river of birds"])
    assert len(index) == 4
    assert [doc for doc, _ in index.top_k("cat", 10)] == [3, 1]
    assert [doc for doc, _ in index.top_k("river", 10)] == [0, 2]


def test_incremental_adds_equal_one_bulk_add() -> None:
    corpus = {i: f"word{i % 7} common text number {i} word{i % 3}" for i in range(300)}
    bulk = build(corpus)
    incremental = BM25Index()
    for i in range(300):  # many small adds: exercises the delta and its merges
        incremental.add([i], [corpus[i]])
        if i % 50 == 0:
            incremental.search("common")
    for query in ("word3 common", "number 17", "word0 word1 text"):
        np.testing.assert_allclose(
            incremental.search(query).scores, bulk.search(query).scores, rtol=1e-6
        )


def test_renumber_compacts() -> None:
    index = build()
    index.remove([1])
    index.renumber(np.array([0, -1, 1, 2]))
    assert index.size == 3
    assert [doc for doc, _ in index.top_k("cat", 10)] == [2, 0]
    assert [doc for doc, _ in index.top_k("bird", 10)] == [1]
    index.add([3], ["dogs again"])
    assert [doc for doc, _ in index.top_k("dog", 10)] == [3]


def test_title_field_weight() -> None:
    index = BM25Index(BM25Params(title_weight=2.0))
    index.add([0, 1], ["shock waves in air", "shock waves in air"], ["Shock", None])
    scores = index.search("shock").scores
    assert scores[0] > scores[1] > 0


def test_bad_input() -> None:
    index = BM25Index()
    with pytest.raises(ValueError, match="same length"):
        index.add([0, 1], ["one"])
    with pytest.raises(ValueError, match="unique"):
        index.add([0, 0], ["one", "two"])
    with pytest.raises(ValueError, match="negative"):
        index.add([-1], ["one"])


def test_top_positive() -> None:
    scores = np.array([0.0, 3.0, 1.0, 3.0, 2.0], dtype=np.float32)
    assert top_positive(scores, 3) == [(1, 3.0), (3, 3.0), (4, 2.0)]
    assert top_positive(scores, 10) == [(1, 3.0), (3, 3.0), (4, 2.0), (2, 1.0)]
    assert top_positive(scores, 0) == []


@pytest.mark.parametrize(
    ("query", "rewritten"),
    [
        ("Can you tell me what papers discuss heat transfer in slabs?", "heat transfer slabs"),
        ("what is the boundary layer thickness", "boundary layer thickness"),
        ("I\u2019d like information about GPU drivers, please", "GPU drivers"),
        ("Don't explain; what's C++?", "C"),
        ("the", "the"),
        ("  ", ""),
    ],
)
def test_rewrite_query(query: str, rewritten: str) -> None:
    assert rewrite_query(query) == rewritten
