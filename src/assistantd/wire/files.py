"""The `file` object, its upload form fields and its list query."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistantd.wire.base import Order, ResponseModel

UploadPurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
FilePurpose = Literal[
    "assistants",
    "assistants_output",
    "batch",
    "batch_output",
    "fine-tune",
    "fine-tune-results",
    "vision",
    "user_data",
    "evals",
]

MAX_FILE_BYTES = 512 * 1024 * 1024
EXPIRES_MIN_SECONDS = 3600
EXPIRES_MAX_SECONDS = 2_592_000


class FileUploadForm(BaseModel):
    """The non-file fields of `POST /files` (multipart, so every value arrives as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: UploadPurpose
    expires_after_anchor: Literal["created_at"] | None = Field(
        default=None, alias="expires_after[anchor]"
    )
    expires_after_seconds: (
        Annotated[int, Field(ge=EXPIRES_MIN_SECONDS, le=EXPIRES_MAX_SECONDS)] | None
    ) = Field(default=None, alias="expires_after[seconds]")


class FileListQuery(BaseModel):
    """`GET /files`: a larger page than other lists, and a purpose filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: Annotated[int, Field(ge=1, le=10_000)] = 10_000
    order: Order = "desc"
    after: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    purpose: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class File(ResponseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None


def file_from_row(row: Mapping[Any, Any]) -> File:
    return File(
        id=row["id"],
        bytes=row["bytes"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        filename=row["filename"],
        purpose=row["purpose"],
        status=row["status"],
        status_details=row["status_details"],
    )
