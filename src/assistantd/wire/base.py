"""Base classes and shared field types for request and response models."""

from __future__ import annotations

from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

if "exclude_if" not in FieldInfo.__slots__:
    # Keys left out of the JSON use Field(exclude_if=...): an older pydantic accepts the keyword
    # and ignores it, and those keys would be sent as null.
    raise ImportError("assistantd needs pydantic>=2.12 (Field(exclude_if=...))")

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512


class RequestModel(BaseModel):
    """A request body: strict types, unknown keys rejected (additionalProperties: false)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResponseModel(BaseModel):
    """A response object: every key is serialised, null rather than missing."""

    model_config = ConfigDict(extra="forbid")


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > METADATA_MAX_PAIRS:
        raise PydanticCustomError(
            "metadata_too_many",
            "too many properties. Expected an object with at most {limit} properties, "
            "but got an object with {count} properties instead.",
            {"limit": METADATA_MAX_PAIRS, "count": len(value)},
        )
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise PydanticCustomError(
                "metadata_key_too_long",
                "metadata key '{key}' is too long. Expected a key with maximum length {limit}, "
                "but got a key with length {length} instead.",
                {"key": key[:80], "limit": METADATA_MAX_KEY, "length": len(key)},
            )
        if len(item) > METADATA_MAX_VALUE:
            raise PydanticCustomError(
                "metadata_value_too_long",
                "metadata value for '{key}' is too long. Expected a string with maximum length "
                "{limit}, but got a string with length {length} instead.",
                {"key": key[:80], "limit": METADATA_MAX_VALUE, "length": len(item)},
            )
    return value


Metadata = Annotated[dict[str, str] | None, AfterValidator(_check_metadata)]
"""Up to 16 string pairs; keys up to 64 chars, values up to 512; null allowed on input."""

Temperature = Annotated[float | None, Field(ge=0, le=2, strict=False)]
TopP = Annotated[float | None, Field(ge=0, le=1, strict=False)]

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]

Order = Literal["asc", "desc"]

T = TypeVar("T")


class ListQuery(BaseModel):
    """Cursor parameters of every list endpoint (query strings, so numbers arrive as text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    order: Order = "desc"
    after: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    before: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class ListPage(ResponseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


class Deleted(ResponseModel):
    id: str
    object: str
    deleted: bool = True
