"""Embeddings from an OpenAI-compatible `/embeddings` upstream, behind the retrieval `Embedder`
protocol (synchronous: callers run it in a worker thread, like the local model)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from openai import OpenAI


class OpenAIEmbedder:
    def __init__(self, base_url: str, api_key: str | None, model: str, *, timeout: float) -> None:
        self.name = f"openai:{model}"
        self._model = model
        self._client = OpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout)
        # Known after the first call; nothing in assistantd needs it before vectors exist.
        self.dimensions = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        response = self._client.embeddings.create(model=self._model, input=list(texts))
        ordered = sorted(response.data, key=lambda item: item.index)
        matrix = np.asarray([item.embedding for item in ordered], dtype=np.float32)
        self.dimensions = int(matrix.shape[1]) if matrix.ndim == 2 else self.dimensions
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.asarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        return np.asarray(self.embed_documents([text])[0], dtype=np.float32)
