"""Vector stores, their files and file batches, search: request bodies and response objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from assistantd.wire.base import Metadata, Order, RequestModel, ResponseModel
from assistantd.wire.tools import FILE_ID, ChunkingStrategy

ATTRIBUTES_MAX_KEYS = 16
ATTRIBUTE_KEY_MAX = 64
ATTRIBUTE_VALUE_MAX = 512
AttributeValue = Annotated[str, Field(max_length=ATTRIBUTE_VALUE_MAX)] | float | int | bool


def _check_attributes(
    value: dict[str, str | float | int | bool] | None,
) -> dict[str, str | float | int | bool] | None:
    if value is None:
        return None
    if len(value) > ATTRIBUTES_MAX_KEYS:
        raise PydanticCustomError(
            "attributes_too_many",
            "too many properties. Expected an object with at most {limit} properties, "
            "but got an object with {count} properties instead.",
            {"limit": ATTRIBUTES_MAX_KEYS, "count": len(value)},
        )
    for key in value:
        if len(key) > ATTRIBUTE_KEY_MAX:
            raise PydanticCustomError(
                "attribute_key_too_long",
                "attribute key '{key}' is longer than {limit} characters.",
                {"key": key[:80], "limit": ATTRIBUTE_KEY_MAX},
            )
    return value


Attributes = Annotated[
    dict[str, AttributeValue] | None,
    AfterValidator(_check_attributes),
]


class ExpiresAfter(RequestModel):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


class VectorStoreCreate(RequestModel):
    file_ids: Annotated[list[FILE_ID], Field(max_length=500)] = []
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class VectorStoreUpdate(RequestModel):
    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class VectorStoreFileCreate(RequestModel):
    file_id: FILE_ID
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None


class VectorStoreFileUpdate(RequestModel):
    attributes: Attributes  # required, and null clears them


class BatchFile(RequestModel):
    file_id: FILE_ID
    attributes: Attributes = None
    chunking_strategy: ChunkingStrategy | None = None


class FileBatchCreate(RequestModel):
    """Exactly one of `file_ids` and `files` (checked by the service, to name the parameter)."""

    file_ids: Annotated[list[FILE_ID], Field(min_length=1, max_length=2000)] | None = None
    files: Annotated[list[BatchFile], Field(min_length=1, max_length=2000)] | None = None
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None


class ComparisonFilter(RequestModel):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_KEY_MAX)]
    value: str | float | int | bool | list[str | float | int]


def _filter_kind(value: Any) -> str:
    """Which filter a value is, by its `type`, so errors speak of the right one."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "compound" if kind in ("and", "or") else "comparison"


class CompoundFilter(RequestModel):
    type: Literal["and", "or"]
    filters: Annotated[list[Filter], Field(min_length=1, max_length=32)]


Filter = Annotated[
    Annotated[ComparisonFilter, Tag("comparison")] | Annotated[CompoundFilter, Tag("compound")],
    Discriminator(_filter_kind),
]
CompoundFilter.model_rebuild()


class SearchRankingOptions(RequestModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: Annotated[float, Field(ge=0, le=1, strict=False)] = 0.0


class SearchRequest(RequestModel):
    query: (
        Annotated[str, Field(min_length=1, max_length=4096)]
        | Annotated[
            list[Annotated[str, Field(min_length=1, max_length=4096)]],
            Field(min_length=1, max_length=10),
        ]
    )
    rewrite_query: bool = False
    max_num_results: Annotated[int, Field(ge=1, le=50)] = 10
    filters: Filter | None = None
    ranking_options: SearchRankingOptions | None = None


class VectorStoreFileListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    order: Order = "desc"
    after: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    before: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    filter: Literal["in_progress", "completed", "failed", "cancelled"] | None = None


# --- responses ------------------------------------------------------------------------------


class FileCounts(ResponseModel):
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


def file_counts(by_status: Mapping[str, int]) -> FileCounts:
    counts = {status: by_status.get(status, 0) for status in FileCounts.model_fields}
    counts["total"] = sum(by_status.values())
    return FileCounts(**counts)


class VectorStore(ResponseModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: dict[str, Any] | None
    expires_at: int | None
    last_active_at: int | None
    metadata: dict[str, str]


def vector_store_status(
    row: Mapping[Any, Any], counts: FileCounts, now: int
) -> Literal["expired", "in_progress", "completed"]:
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return "expired"
    return "in_progress" if counts.in_progress else "completed"


def vector_store_from_row(
    row: Mapping[Any, Any], counts: FileCounts, usage_bytes: int, now: int
) -> VectorStore:
    return VectorStore(
        id=row["id"],
        created_at=row["created_at"],
        name=row["name"] or "",
        usage_bytes=usage_bytes,
        file_counts=counts,
        status=vector_store_status(row, counts, now),
        expires_after=row["expires_after"],
        expires_at=row["expires_at"],
        last_active_at=row["last_active_at"],
        metadata=row["metadata"],
    )


class VectorStoreFile(ResponseModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: dict[str, str] | None
    chunking_strategy: dict[str, Any]
    attributes: dict[str, Any] | None


def vector_store_file_from_row(row: Mapping[Any, Any]) -> VectorStoreFile:
    return VectorStoreFile(
        id=row["id"],
        usage_bytes=row["usage_bytes"],
        created_at=row["created_at"],
        vector_store_id=row["vector_store_id"],
        status=row["status"],
        last_error=row["last_error"],
        chunking_strategy=row["chunking_strategy"],
        attributes=row["attributes"],
    )


class FileBatch(ResponseModel):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: FileCounts


def file_batch_from_row(row: Mapping[Any, Any], counts: FileCounts) -> FileBatch:
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    if counts.in_progress:
        status = "in_progress"
    elif row["cancelled_at"] is not None:
        status = "cancelled"
    elif counts.total and counts.failed == counts.total:
        status = "failed"
    else:
        status = "completed"
    return FileBatch(
        id=row["id"],
        created_at=row["created_at"],
        vector_store_id=row["vector_store_id"],
        status=status,
        file_counts=counts,
    )


class TextContent(ResponseModel):
    type: Literal["text"] = "text"
    text: str


class SearchResult(ResponseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None
    content: list[TextContent]


class SearchResultsPage(ResponseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None


class FileContentPage(ResponseModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[TextContent]
    has_more: bool = False
    next_page: str | None = None
