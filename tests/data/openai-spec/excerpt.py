"""Rebuild openapi.yaml, the excerpt of OpenAI's published OpenAPI description the tests use,
from a full copy: `python tests/data/openai-spec/excerpt.py path/to/full/openapi.yaml`.

Kept, unmodified: the operations assistantd implements (`OPERATIONS`), the component schemas
the contract tests validate against (`SCHEMAS`), and every component either of them reaches
through `$ref`, transitively; plus the document's `openapi`, `info`, `servers` and `security`.
The output depends only on the input, so a refresh from a newer copy is a reviewable diff.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "openapi.yaml"

# Spelled as the spec spells them (`{model}`, not our route's `{model_id}`); methods the spec
# lists but assistantd does not serve (DELETE /models/{model}) are left out.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/assistants": ("get", "post"),
    "/assistants/{assistant_id}": ("get", "post", "delete"),
    "/files": ("get", "post"),
    "/files/{file_id}": ("get", "delete"),
    "/files/{file_id}/content": ("get",),
    "/models": ("get",),
    "/models/{model}": ("get",),
    "/threads": ("post",),
    "/threads/runs": ("post",),
    "/threads/{thread_id}": ("get", "post", "delete"),
    "/threads/{thread_id}/messages": ("get", "post"),
    "/threads/{thread_id}/messages/{message_id}": ("get", "post", "delete"),
    "/threads/{thread_id}/runs": ("get", "post"),
    "/threads/{thread_id}/runs/{run_id}": ("get", "post"),
    "/threads/{thread_id}/runs/{run_id}/cancel": ("post",),
    "/threads/{thread_id}/runs/{run_id}/steps": ("get",),
    "/threads/{thread_id}/runs/{run_id}/steps/{step_id}": ("get",),
    "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs": ("post",),
    "/vector_stores": ("get", "post"),
    "/vector_stores/{vector_store_id}": ("get", "post", "delete"),
    "/vector_stores/{vector_store_id}/file_batches": ("post",),
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}": ("get",),
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel": ("post",),
    "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files": ("get",),
    "/vector_stores/{vector_store_id}/files": ("get", "post"),
    "/vector_stores/{vector_store_id}/files/{file_id}": ("get", "post", "delete"),
    "/vector_stores/{vector_store_id}/files/{file_id}/content": ("get",),
    "/vector_stores/{vector_store_id}/search": ("post",),
}

# What tests/support/openapi.py is asked to validate against (tests/contract/*).
SCHEMAS: tuple[str, ...] = (
    "AssistantObject",
    "DeleteAssistantResponse",
    "DeleteFileResponse",
    "DeleteMessageResponse",
    "DeleteThreadResponse",
    "DeleteVectorStoreFileResponse",
    "DeleteVectorStoreResponse",
    "ErrorResponse",
    "ListAssistantsResponse",
    "ListFilesResponse",
    "ListMessagesResponse",
    "ListRunStepsResponse",
    "ListRunsResponse",
    "ListVectorStoreFilesResponse",
    "ListVectorStoresResponse",
    "MessageObject",
    "OpenAIFile",
    "RunObject",
    "RunStepObject",
    "ThreadObject",
    "VectorStoreFileBatchObject",
    "VectorStoreFileContentResponse",
    "VectorStoreFileObject",
    "VectorStoreObject",
    "VectorStoreSearchResultItem",
    "VectorStoreSearchResultsPage",
)

_COMPONENTS = "#/components/"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _refs(node: Any) -> set[tuple[str, str]]:
    """(kind, name) of every `#/components/<kind>/<name>...` reference under `node`."""
    found: set[tuple[str, str]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_COMPONENTS):
                kind, name = ref.removeprefix(_COMPONENTS).split("/")[:2]
                found.add((kind, name))
            stack.extend(item.values())
    return found


def excerpt(spec: dict[str, Any]) -> dict[str, Any]:
    """The kept operations of `spec` (in `OPERATIONS` order) and components (by name)."""
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        item = spec["paths"][path]
        # Path-level keys (shared `parameters`) stay; only other methods are dropped.
        kept = {k: v for k, v in item.items() if k not in _HTTP_METHODS or k in methods}
        missing = [m for m in methods if m not in item]
        if missing:
            raise SystemExit(f"{path}: no {missing} in the source spec")
        paths[path] = kept
    components = spec["components"]
    wanted = {("schemas", name) for name in SCHEMAS} | _refs(paths)
    wanted |= {("securitySchemes", name) for entry in spec["security"] for name in entry}
    done: set[tuple[str, str]] = set()
    while wanted:
        kind, name = wanted.pop()
        if (kind, name) in done:
            continue
        done.add((kind, name))
        if name not in components.get(kind, {}):
            raise SystemExit(f"#/components/{kind}/{name} is referenced but not defined")
        wanted |= _refs(components[kind][name]) - done
    kept_components: dict[str, Any] = {}
    for kind in components:
        names = sorted(name for k, name in done if k == kind)
        if names:
            kept_components[kind] = {name: components[kind][name] for name in names}
    head = {key: spec[key] for key in ("openapi", "info", "servers", "security")}
    return {**head, "paths": paths, "components": kept_components}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the full openapi.yaml")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    raw = args.source.read_bytes()
    document = excerpt(yaml.load(raw, Loader=_Loader))
    header = (
        "# An excerpt of OpenAI's OpenAPI description (github.com/openai/openai-openapi,\n"
        "# openapi.yaml; MIT licence, see README.md here), made by excerpt.py from a copy with\n"
        f"# sha256 {hashlib.sha256(raw).hexdigest()}. Do not edit: rebuild it.\n"
    )
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    args.output.write_text(header + body, encoding="utf-8")
    counts = {kind: len(items) for kind, items in document["components"].items()}
    print(f"{args.output}: {len(document['paths'])} paths, components {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
