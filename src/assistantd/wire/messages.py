"""Message request bodies, content parts and the `thread.message` object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from assistantd.wire.base import Metadata, RequestModel, ResponseModel
from assistantd.wire.tools import FILE_ID, CodeInterpreterTool

MESSAGE_MAX_CHARS = 256_000
ImageDetail = Literal["auto", "low", "high"]
_IMAGE_URL_PREFIXES = ("http://", "https://", "data:image/")


class TextPartInput(RequestModel):
    type: Literal["text"]
    text: Annotated[str, Field(max_length=MESSAGE_MAX_CHARS)]


class ImageFileRef(RequestModel):
    file_id: FILE_ID
    detail: ImageDetail | None = None


class ImageFilePartInput(RequestModel):
    type: Literal["image_file"]
    image_file: ImageFileRef


class ImageUrlRef(RequestModel):
    url: Annotated[str, Field(min_length=1, max_length=20_000_000)]
    detail: ImageDetail | None = None

    @field_validator("url")
    @classmethod
    def _image_url(cls, value: str) -> str:
        if not value.startswith(_IMAGE_URL_PREFIXES):
            raise ValueError("expected an http(s) URL or a data:image/... URL")
        return value


class ImageUrlPartInput(RequestModel):
    type: Literal["image_url"]
    image_url: ImageUrlRef


ContentPartInput = Annotated[
    TextPartInput | ImageFilePartInput | ImageUrlPartInput, Field(discriminator="type")
]


class FileSearchTypeOnly(RequestModel):
    type: Literal["file_search"]


AttachmentTool = Annotated[CodeInterpreterTool | FileSearchTypeOnly, Field(discriminator="type")]


class Attachment(RequestModel):
    file_id: FILE_ID
    tools: Annotated[list[AttachmentTool], Field(min_length=1)]


class MessageCreate(RequestModel):
    role: Literal["user", "assistant"]
    content: (
        Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX_CHARS)]
        | Annotated[list[ContentPartInput], Field(min_length=1, max_length=256)]
    )
    attachments: Annotated[list[Attachment], Field(max_length=20)] | None = None
    metadata: Metadata = None


class MessageUpdate(RequestModel):
    metadata: Metadata = None


def content_to_row(content: str | list[Any]) -> list[dict[str, Any]]:
    """Stored and returned content parts for message input (a string is one text part)."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPartInput):
            parts.append({"type": "text", "text": {"value": part.text, "annotations": []}})
        elif isinstance(part, ImageFilePartInput):
            parts.append(
                {
                    "type": "image_file",
                    "image_file": {
                        "file_id": part.image_file.file_id,
                        "detail": part.image_file.detail or "auto",
                    },
                }
            )
        else:
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {
                        "url": part.image_url.url,
                        "detail": part.image_url.detail or "auto",
                    },
                }
            )
    return parts


def attachments_to_row(attachments: list[Attachment] | None) -> list[dict[str, Any]]:
    return [
        {"file_id": item.file_id, "tools": [{"type": tool.type} for tool in item.tools]}
        for item in attachments or []
    ]


class Message(ResponseModel):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"]
    incomplete_details: dict[str, Any] | None
    completed_at: int | None
    incomplete_at: int | None
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    assistant_id: str | None
    run_id: str | None
    attachments: list[dict[str, Any]] | None
    metadata: dict[str, str]


def message_from_row(row: Mapping[Any, Any]) -> Message:
    return Message(
        id=row["id"],
        created_at=row["created_at"],
        thread_id=row["thread_id"],
        status=row["status"],
        incomplete_details=row["incomplete_details"],
        completed_at=row["completed_at"],
        incomplete_at=row["incomplete_at"],
        role=row["role"],
        content=row["content"],
        assistant_id=row["assistant_id"],
        run_id=row["run_id"],
        attachments=row["attachments"],
        metadata=row["metadata"],
    )


def text_part(value: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A `text` content part as a message stores and shows it."""
    return {"type": "text", "text": {"value": value, "annotations": annotations or []}}


def image_file_part(file_id: str) -> dict[str, Any]:
    """An `image_file` content part the server adds (an image the run's code produced)."""
    return {"type": "image_file", "image_file": {"file_id": file_id, "detail": "auto"}}
