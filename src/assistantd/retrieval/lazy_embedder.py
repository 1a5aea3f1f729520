"""The local embedding model, loaded on first use: a server that never ingests or searches
files never pays its start-up time or memory."""

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
        self._model: MiniLMEmbedder | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> MiniLMEmbedder:
        with self._lock:
            if self._model is None:
                self._model = MiniLMEmbedder(threads=self._threads)
            return self._model

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self._loaded().embed_documents(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._loaded().embed_query(text)
