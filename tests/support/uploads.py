"""Real files and vector stores for tests whose objects must point at existing ones."""

from __future__ import annotations

from typing import Any

import openai


def upload(client: openai.OpenAI, name: str = "notes.txt", data: bytes | None = None) -> str:
    content = data if data is not None else f"Some notes kept in {name}.".encode()
    return client.files.create(file=(name, content), purpose="assistants").id


def new_store(client: openai.OpenAI, **fields: Any) -> str:
    return client.vector_stores.create(**fields).id


def tool_resources(client: openai.OpenAI) -> dict[str, Any]:
    """Both kinds of tool resources, naming a real file and a real vector store."""
    return {
        "code_interpreter": {"file_ids": [upload(client, "data.csv", b"a,b\n1,2\n")]},
        "file_search": {"vector_store_ids": [new_store(client)]},
    }
