"""The local embedding model, loaded on first use: a server that never ingests or searches
files never pays its start-up time or memory.

Two sessions of the same model: documents go through single-threaded runs, several at once
(the ingestion batcher makes one per embedding thread: independent batches, so the event loop
taking a core slows one batch rather than stalling both halves of every operator), and queries
through one multi-threaded session whose threads spin only while it runs (a short query is
latency, not throughput)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from assistantd.retrieval.embedding import MiniLMEmbedder


class LazyMiniLM:
    name = MiniLMEmbedder.name
    dimensions = MiniLMEmbedder.dimensions

    def __init__(self, *, threads: int) -> None:
        self._threads = threads
        self._documents: MiniLMEmbedder | None = None
        self._queries: MiniLMEmbedder | None = None
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def warm_up(self) -> threading.Thread | None:
        """Load the documents' model in the background, and run it once (its first run
        allocates its memory): called when files are about to be ingested, so that the first
        batch does not wait a second for it. Returns the loading thread, or None when the
        model is loaded or loading already."""
        with self._lock:
            if self._documents is not None or self._warming is not None:
                return None
            self._warming = threading.Thread(
                target=self.embed_documents,
                args=(["warm up"],),
                name="assistantd-embedder-warm-up",
                daemon=True,  # never holds up a shutdown
            )
        self._warming.start()
        return self._warming

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            if self._documents is None:
                self._documents = MiniLMEmbedder(threads=1)
            model = self._documents
        return model.embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        with self._lock:
            if self._queries is None:
                self._queries = MiniLMEmbedder(threads=self._threads, spin=True)
            model = self._queries
        return model.embed_query(text)
