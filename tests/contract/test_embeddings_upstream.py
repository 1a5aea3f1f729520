"""Embeddings from an OpenAI-compatible `/embeddings` upstream instead of the local model."""

from __future__ import annotations

import time

from tests.conftest import ServerFactory, sdk_client
from tests.support.upstream import ScriptedUpstream


def test_ingestion_and_search_use_the_embeddings_upstream(
    make_server: ServerFactory, model: ScriptedUpstream
) -> None:
    server = make_server(
        env={
            "ASSISTANTD_EMBEDDING_BASE_URL": model.base_url,
            "ASSISTANTD_EMBEDDING_API_KEY": "sk-embed",
            "ASSISTANTD_EMBEDDING_MODEL": "embed-small",
        }
    ).start()
    try:
        client = sdk_client(server)
        trees = client.files.create(
            file=("trees.txt", b"redwood trees grow tall in california"), purpose="assistants"
        )
        pasta = client.files.create(
            file=("pasta.txt", b"boil pasta in salted water"), purpose="assistants"
        )
        store = client.vector_stores.create(file_ids=[trees.id, pasta.id])
        deadline = time.monotonic() + 60
        while client.vector_stores.retrieve(store.id).file_counts.in_progress:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.vector_stores.retrieve(store.id).file_counts.completed == 2
        results = client.vector_stores.search(store.id, query="tall redwood trees").data
        assert results[0].file_id == trees.id
        sent = [text for body in model.embedding_requests for text in body["input"]]
        assert "tall redwood trees" in sent
        assert any("redwood trees grow tall" in text for text in sent)
        assert {body["model"] for body in model.embedding_requests} == {"embed-small"}
    finally:
        server.stop()
