"""Keyword search: an English analyzer (stopwords, Porter stems) and an in-memory BM25 index.

Postings are numpy arrays per term, so a query costs a few vector operations per query term.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.stem import porter_stem

# Word lists read better as text than as a list of quoted strings.
STOPWORDS: Final = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can cannot could couldn't did didn't do does doesn't
    doing don't down during each either else etc ever few for from further had hadn't has hasn't
    have haven't having he her here hers herself him himself his how however i if in into is
    isn't it its itself just let me might more most much must my myself no nor not now of off
    on once only or other ought our ours ourselves out over own per same shall she should
    shouldn't so some such than that the their theirs them themselves then there these they
    this those though through thus to too under until up upon us very via was wasn't we were
    weren't what when where whether which while who whom whose why will with within without
    won't would wouldn't yet you your yours yourself yourselves i'd i'm i've i'll you're
    you've we're we've it's that's there's what's let's
    """.split()  # noqa: SIM905
)
_WORD: Final = re.compile(r"[^\W_]+")
# Longer "words" are hashes, base64 or URLs run together: noise in the vocabulary.
_MAX_WORD: Final = 40


class Analyzer:
    """Lowercase, split on non-alphanumerics, drop stopwords, Porter-stem. Thread-safe."""

    def __init__(self, stopwords: frozenset[str] = STOPWORDS) -> None:
        self._stopwords = stopwords
        # word -> stem ("" for a dropped word); the vocabulary of a corpus is small.
        self._cache: dict[str, str] = {}

    def terms(self, text: str) -> list[str]:
        cache = self._cache
        out: list[str] = []
        for word in _WORD.findall(text.lower()):
            term = cache.get(word)
            if term is None:
                term = self._term(word)
                if len(cache) < 1_000_000:
                    cache[word] = term
            if term:
                out.append(term)
        return out

    def _term(self, word: str) -> str:
        if word in self._stopwords or len(word) > _MAX_WORD:
            return ""
        if len(word) == 1 and not word.isdigit():
            return ""
        return porter_stem(word)


@dataclass(frozen=True, slots=True)
class BM25Params:
    """BM25 saturation `k1` and length normalisation `b`; `title_weight` scales title terms."""

    # Tuned on the odd-numbered Cranfield queries (bench/retrieval_library.py --sweep); the
    # plateau is flat (k1 1.2-2.0, title 1-3 are within 0.005 nDCG@10) and b=0.75 is standard.
    k1: float = 1.6
    b: float = 0.75
    title_weight: float = 2.0


@dataclass(frozen=True, slots=True)
class KeywordScores:
    """BM25 of every doc id (0 where nothing matched) and the best score the query could reach."""

    scores: npt.NDArray[np.float32]
    max_score: float

    def normalised(self) -> npt.NDArray[np.float32]:
        """Scores divided by the query's ceiling (every term matched with saturated tf): 0..1."""
        if self.max_score <= 0:
            return np.zeros_like(self.scores)
        return self.scores / np.float32(self.max_score)


class _Postings:
    """Term -> (doc ids, term frequencies) in CSR layout."""

    def __init__(self, n_terms: int = 0) -> None:
        self.indptr = np.zeros(n_terms + 1, dtype=np.int64)
        self.docs = np.zeros(0, dtype=np.int32)
        self.tfs = np.zeros(0, dtype=np.float32)

    @classmethod
    def from_triples(
        cls,
        terms: npt.NDArray[np.int64],
        docs: npt.NDArray[np.int32],
        tfs: npt.NDArray[np.float32],
        n_terms: int,
    ) -> _Postings:
        postings = cls()
        order = np.argsort(terms, kind="stable")
        counts = np.bincount(terms, minlength=n_terms)
        postings.indptr = np.concatenate(([0], np.cumsum(counts)))
        postings.docs = docs[order]
        postings.tfs = tfs[order]
        return postings

    @property
    def n_terms(self) -> int:
        return len(self.indptr) - 1

    @property
    def size(self) -> int:
        return len(self.docs)

    def get(self, term: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        if term >= self.n_terms:
            return self.docs[:0], self.tfs[:0]
        lo, hi = self.indptr[term], self.indptr[term + 1]
        return self.docs[lo:hi], self.tfs[lo:hi]

    def merged(self, other: _Postings, n_terms: int) -> _Postings:
        """Both sets of postings in one CSR, in O(size) (no sort: both are already by term)."""
        mine = np.bincount(self._term_of_each(), minlength=n_terms)
        theirs = np.bincount(other._term_of_each(), minlength=n_terms)
        merged = _Postings()
        merged.indptr = np.concatenate(([0], np.cumsum(mine + theirs)))
        total = self.size + other.size
        merged.docs = np.empty(total, dtype=np.int32)
        merged.tfs = np.empty(total, dtype=np.float32)
        # Within a term, this index's postings come first, then the other's.
        for part, before in ((self, np.zeros(n_terms, dtype=np.int64)), (other, mine)):
            terms = part._term_of_each()
            target = merged.indptr[terms] + before[terms] + np.arange(part.size)
            target -= part.indptr[terms]
            merged.docs[target] = part.docs
            merged.tfs[target] = part.tfs
        return merged

    def renumbered(self, mapping: npt.NDArray[np.int64]) -> _Postings:
        """Doc ids mapped through `mapping` (old -> new, -1 drops the posting)."""
        new_docs = mapping[self.docs]
        keep = new_docs >= 0
        terms = self._term_of_each()[keep]
        result = _Postings()
        result.indptr = np.concatenate(([0], np.cumsum(np.bincount(terms, minlength=self.n_terms))))
        result.docs = new_docs[keep].astype(np.int32)
        result.tfs = self.tfs[keep]
        return result

    def _term_of_each(self) -> npt.NDArray[np.int64]:
        return np.repeat(np.arange(self.n_terms, dtype=np.int64), np.diff(self.indptr))


class BM25Index:
    """BM25 over integer doc ids chosen by the caller (dense ids keep the arrays small).

    New documents go to a small delta, merged into the main postings once it reaches a
    quarter of their size, so adding while searching stays cheap. Removal marks ids dead;
    `renumber` (the owner's compaction) drops their postings.
    """

    def __init__(self, params: BM25Params | None = None, analyzer: Analyzer | None = None) -> None:
        self.params = params or BM25Params()
        self.analyzer = analyzer or Analyzer()
        self._vocab: dict[str, int] = {}
        self._main = _Postings()
        self._delta_parts: list[
            tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float32]]
        ] = []
        self._delta: _Postings | None = _Postings()
        self._lengths = np.zeros(0, dtype=np.float32)
        self._live = np.zeros(0, dtype=bool)
        self._live_count = 0
        self._size = 0
        self._length_sum = 0.0
        self._dead_postings = False
        self._norm: npt.NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return self._live_count

    @property
    def size(self) -> int:
        """The length of score arrays: one past the largest doc id added (or renumbered to)."""
        return self._size

    def add(
        self,
        doc_ids: Sequence[int] | npt.NDArray[np.int64],
        texts: Sequence[str],
        titles: Sequence[str | None] | None = None,
    ) -> None:
        """Index `texts[i]` (and `titles[i]`, weighted by `title_weight`) under `doc_ids[i]`."""
        ids = np.asarray(doc_ids, dtype=np.int64)
        if len(ids) != len(texts) or (titles is not None and len(titles) != len(texts)):
            raise ValueError("doc_ids, texts and titles must have the same length")
        if len(ids) == 0:
            return
        if ids.min() < 0:
            raise ValueError("doc ids must not be negative")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("doc ids must be unique")
        self._grow(int(ids.max()) + 1)
        self._size = max(self._size, int(ids.max()) + 1)
        replaced = ids[self._live[ids]]
        if len(replaced):
            self._purge(replaced)
        term_ids: list[int] = []
        doc_index: list[int] = []
        weights: list[float] = []
        lengths = np.zeros(len(ids), dtype=np.float32)
        title_weight = self.params.title_weight
        for i, text in enumerate(texts):
            body = self._term_ids(self.analyzer.terms(text))
            term_ids.extend(body)
            doc_index.extend([i] * len(body))
            weights.extend([1.0] * len(body))
            lengths[i] = len(body)
            title = titles[i] if titles is not None else None
            if title and title_weight > 0:
                head = self._term_ids(self.analyzer.terms(title))
                term_ids.extend(head)
                doc_index.extend([i] * len(head))
                weights.extend([title_weight] * len(head))
                lengths[i] += title_weight * len(head)
        self._lengths[ids] = lengths
        self._live[ids] = True
        self._live_count += len(ids)
        self._length_sum += float(lengths.sum())
        self._norm = None
        if term_ids:
            # Sum the weights of each (doc, term) pair: that is the term frequency.
            keys = np.asarray(doc_index, dtype=np.int64) << 32 | np.asarray(term_ids, np.int64)
            unique, inverse = np.unique(keys, return_inverse=True)
            tfs = np.bincount(inverse, weights=np.asarray(weights)).astype(np.float32)
            docs = ids[unique >> 32].astype(np.int32)
            self._delta_parts.append((unique & 0xFFFFFFFF, docs, tfs))
            self._delta = None

    def remove(self, doc_ids: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Forget these doc ids (unknown ids are ignored)."""
        ids = np.asarray(doc_ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < self._size)]
        ids = np.unique(ids[self._live[ids]])
        if len(ids) == 0:
            return
        self._live[ids] = False
        self._live_count -= len(ids)
        self._length_sum -= float(self._lengths[ids].sum())
        self._lengths[ids] = 0
        self._dead_postings = True
        self._norm = None

    def _purge(self, doc_ids: npt.NDArray[np.int64]) -> None:
        """Remove these ids and drop the postings of every removed id now, so ids can be reused."""
        self.remove(doc_ids)
        self._flush_delta(force=True)
        mapping = np.arange(self._size, dtype=np.int64)
        mapping[~self._live[: self._size]] = -1
        self._main = self._main.renumbered(mapping)
        self._dead_postings = False

    def renumber(self, mapping: npt.NDArray[np.int64]) -> None:
        """Move doc `old` to `mapping[old]`; ids mapped to -1 must already be removed."""
        self._flush_delta(force=True)
        mapping = np.asarray(mapping, dtype=np.int64)[: self._size]
        if len(mapping) < self._size:
            raise ValueError("the mapping must cover every doc id")
        self._main = self._main.renumbered(mapping)
        kept = mapping >= 0
        self._size = int(mapping.max()) + 1 if kept.any() else 0
        lengths = np.zeros(max(self._size, 1024), dtype=np.float32)
        live = np.zeros(len(lengths), dtype=bool)
        lengths[mapping[kept]] = self._lengths[: len(mapping)][kept]
        live[mapping[kept]] = self._live[: len(mapping)][kept]
        self._lengths, self._live = lengths, live
        self._dead_postings = self._live_count < int(np.count_nonzero(kept))
        self._norm = None

    def search(self, query: str | Sequence[str]) -> KeywordScores:
        """Scores of every doc id for `query` (text, or terms already analyzed)."""
        terms = self.analyzer.terms(query) if isinstance(query, str) else list(query)
        scores = np.zeros(self._size, dtype=np.float32)
        if not terms or self._live_count == 0:
            return KeywordScores(scores, 0.0)
        self._flush_delta()
        norm = self._length_norm()
        k1 = self.params.k1
        n_docs = self._live_count
        max_score = 0.0
        for term, query_tf in Counter(terms).items():
            term_id = self._vocab.get(term)
            if term_id is None:
                continue
            docs, tfs = self._postings(term_id)
            if len(docs) == 0:
                continue
            df = len(docs)
            idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            weight = np.float32(query_tf * idf * (k1 + 1.0))
            scores[docs] += weight * tfs / (tfs + norm[docs])  # docs are unique per term
            max_score += float(weight)
        return KeywordScores(scores, max_score)

    def top_k(
        self, query: str | Sequence[str], k: int, allowed: npt.NDArray[np.bool_] | None = None
    ) -> list[tuple[int, float]]:
        """The `k` best (doc id, BM25 score) pairs with a positive score, best first."""
        result = self.search(query)
        scores = result.scores
        if allowed is not None:
            scores = np.where(allowed[: len(scores)], scores, np.float32(0))
        return top_positive(scores, k)

    def _postings(self, term: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        docs, tfs = self._main.get(term)
        assert self._delta is not None
        if self._delta.size:
            extra_docs, extra_tfs = self._delta.get(term)
            if len(extra_docs):
                docs = np.concatenate((docs, extra_docs))
                tfs = np.concatenate((tfs, extra_tfs))
        if self._dead_postings:
            live = self._live[docs]
            docs, tfs = docs[live], tfs[live]
        return docs, tfs

    def _flush_delta(self, *, force: bool = False) -> None:
        n_terms = len(self._vocab)
        if self._delta is None:
            parts = self._delta_parts
            terms = np.concatenate([p[0] for p in parts])
            docs = np.concatenate([p[1] for p in parts])
            tfs = np.concatenate([p[2] for p in parts])
            self._delta = _Postings.from_triples(terms, docs, tfs, n_terms)
            self._delta_parts = [(terms, docs, tfs)]
        if self._delta.size and (force or self._delta.size * 4 >= self._main.size):
            self._main = self._main.merged(self._delta, n_terms)
            self._delta = _Postings(n_terms)
            self._delta_parts = []

    def _length_norm(self) -> npt.NDArray[np.float32]:
        """k1 * (1 - b + b * length / average length) per doc id, cached until the corpus moves."""
        if self._norm is None:
            k1, b = self.params.k1, self.params.b
            average = self._length_sum / self._live_count if self._live_count else 1.0
            average = max(average, 1e-9)
            self._norm = (k1 * (1.0 - b + b * self._lengths / np.float32(average))).astype(
                np.float32
            )
        return self._norm

    def _term_ids(self, terms: Iterable[str]) -> list[int]:
        vocab = self._vocab
        out: list[int] = []
        for term in terms:
            term_id = vocab.get(term)
            if term_id is None:
                term_id = vocab[term] = len(vocab)
            out.append(term_id)
        return out

    def _grow(self, capacity: int) -> None:
        if capacity <= len(self._live):
            return
        size = max(capacity, len(self._live) * 2, 1024)
        self._lengths = np.concatenate(
            (self._lengths, np.zeros(size - len(self._lengths), dtype=np.float32))
        )
        self._live = np.concatenate((self._live, np.zeros(size - len(self._live), dtype=bool)))
        self._norm = None


def top_positive(scores: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
    """Indices and values of the `k` largest positive entries, largest first (ties: lower id)."""
    if k <= 0 or len(scores) == 0:
        return []
    k = min(k, len(scores))
    candidates = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    candidates = candidates[scores[candidates] > 0]
    order = np.lexsort((candidates, -scores[candidates]))
    return [(int(i), float(scores[i])) for i in candidates[order]]
