"""Chunks of concurrent ingestion jobs are embedded in shared batches."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.embed_batcher import EmbeddingBatcher


class CountingEmbedder:
    name = "counting"
    dimensions = 2

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if self.fail:
            raise RuntimeError("model broke")
        return np.asarray([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self.embed_documents([text])[0]


def test_concurrent_requests_share_batches_and_get_their_own_rows() -> None:
    model = CountingEmbedder()
    batcher = EmbeddingBatcher(model, max_batch=4)

    async def main() -> list[npt.NDArray[np.float32]]:
        jobs = [batcher.embed(["a" * n]) for n in range(1, 6)] + [batcher.embed(["xy", "xyz"])]
        return await asyncio.gather(*jobs)

    results = asyncio.run(main())
    assert [r[:, 0].tolist() for r in results] == [[1], [2], [3], [4], [5], [2, 3]]
    # Six requests, seven texts: batches of at most four texts, whole requests only.
    assert [len(call) for call in model.calls] == [4, 3]


def test_a_model_failure_reaches_every_waiting_request() -> None:
    batcher = EmbeddingBatcher(CountingEmbedder(fail=True), max_batch=8)

    async def main() -> list[BaseException | npt.NDArray[np.float32]]:
        return await asyncio.gather(
            batcher.embed(["a"]), batcher.embed(["b"]), return_exceptions=True
        )

    outcomes = asyncio.run(main())
    assert [(type(o), str(o)) for o in outcomes] == [(RuntimeError, "model broke")] * 2


class SlowEmbedder(CountingEmbedder):
    """Records how many calls overlap (each takes 50 ms in a worker thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return super().embed_documents(texts)


def test_parallel_batches_overlap_up_to_the_limit() -> None:
    model = SlowEmbedder()
    batcher = EmbeddingBatcher(model, max_batch=2, parallel=2)

    async def main() -> list[npt.NDArray[np.float32]]:
        return await asyncio.gather(*(batcher.embed(["a" * n]) for n in range(1, 11)))

    results = asyncio.run(main())
    assert [r[0, 0] for r in results] == list(range(1, 11))
    assert model.most_at_once == 2
    assert sorted(len(call) for call in model.calls) == [2] * 5


def test_texts_fewer_than_the_slots_could_take_are_shared_among_them() -> None:
    model = SlowEmbedder()
    batcher = EmbeddingBatcher(model, max_batch=8, min_batch=2, parallel=2)

    async def main() -> None:
        await asyncio.gather(*(batcher.embed([str(n)]) for n in range(10)))
        # A lone request still goes out alone, and below `min_batch` nothing is split.
        await asyncio.gather(batcher.embed(["x"]), batcher.embed(["y"]))

    asyncio.run(main())
    # Ten texts, two idle slots: five each, not eight and two. Then two texts in one batch.
    assert [len(call) for call in model.calls[:2]] == [5, 5]
    assert model.most_at_once == 2
    assert [len(call) for call in model.calls[2:]] == [2]
