"""Embeds the chunks of concurrent ingestion jobs together. The model does far more texts per
second on a batch than on one small file's single chunk, so small files would otherwise
ingest at a fraction of its speed. A fixed number of batches at a time keeps it from
fighting itself."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.embedding import Embedder

Vectors = npt.NDArray[np.float32]


class EmbeddingBatcher:
    """`parallel` batches are embedded at once (see `LazyMiniLM`); each takes the texts
    waiting when it starts, up to `max_batch`. When fewer wait than the idle batch slots could
    take, they are shared equally among those slots, so that the last batches of an ingestion
    run side by side rather than one thread embedding them all while the others idle. No batch
    is cut below `min_batch` (the model's own batch) for the sake of that share."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_batch: int = 64,
        min_batch: int = 16,
        parallel: int = 1,
    ) -> None:
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        self._embedder = embedder
        self._max_batch = max_batch
        self._min_batch = min(min_batch, max_batch)
        self._parallel = parallel
        self._pending: deque[tuple[list[str], asyncio.Future[Vectors]]] = deque()
        self._pending_texts = 0
        self._busy = 0  # batches being embedded
        self._workers: set[asyncio.Task[None]] = set()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Vectors of `texts` (one call's texts are never split across batches)."""
        future: asyncio.Future[Vectors] = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        self._pending_texts += len(texts)
        if len(self._workers) < self._parallel:
            worker = asyncio.create_task(self._drain(), name="assistantd-embed")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return await future

    def _next_batch(self) -> list[tuple[list[str], asyncio.Future[Vectors]]]:
        idle = max(1, self._parallel - self._busy)
        share = -(-self._pending_texts // idle)  # ceiling
        limit = max(self._min_batch, min(self._max_batch, share))
        batch = [self._pending.popleft()]
        size = len(batch[0][0])
        while self._pending and size + len(self._pending[0][0]) <= limit:
            batch.append(self._pending.popleft())
            size += len(batch[-1][0])
        self._pending_texts -= size
        return batch

    async def _drain(self) -> None:
        while self._pending:
            live = [(texts, fut) for texts, fut in self._next_batch() if not fut.cancelled()]
            if not live:
                continue
            self._busy += 1
            try:
                vectors = await asyncio.to_thread(
                    self._embedder.embed_documents, [t for texts, _ in live for t in texts]
                )
            except Exception as exc:  # noqa: BLE001 (every waiting job hears of it)
                for _, future in live:
                    _settle(future, exc)
                continue
            finally:
                self._busy -= 1
            start = 0
            for texts, future in live:
                _settle(future, vectors[start : start + len(texts)])
                start += len(texts)


def _settle(future: asyncio.Future[Vectors], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
