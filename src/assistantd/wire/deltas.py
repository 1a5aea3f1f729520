"""The deltas of run streams (`thread.message.delta`, `thread.run.step.delta`): fragments that
carry only the keys they set, which the SDK merges into its snapshot of the object."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Unset:
    """The default of a delta's optional field: never serialized (unlike None, sent as null)."""

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def _is_unset(value: object) -> bool:
    return value is UNSET


def optional() -> Any:
    """An optional delta field: absent from the JSON unless given; given None, sent as null.
    (`exclude_if` is checked inside pydantic-core, so every dump and a parent's dump follow it;
    a wrap serializer doing the same made each fragment twice as slow to dump.) Read back
    unset, the attribute is `UNSET`, which is falsy."""
    return Field(default=UNSET, exclude_if=_is_unset)


class DeltaModel(BaseModel):
    """A delta object: its optional fields are declared with `optional()`; every other field
    is always sent."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, field in cls.model_fields.items():
            if field.default is None:  # would be sent as null when not given
                raise TypeError(
                    f"{cls.__name__}.{name}: declare an optional delta field with optional()"
                )


# --- thread.message.delta ---------------------------------------------------------------------


class TextDelta(DeltaModel):
    value: str | None = optional()
    # Annotation objects are built by the citation scanner (with their `index` in the message).
    annotations: list[dict[str, Any]] | None = optional()


class TextDeltaPart(DeltaModel):
    index: int
    type: Literal["text"] = "text"
    text: TextDelta


class ImageFileDelta(DeltaModel):
    file_id: str | None = optional()
    detail: Literal["auto", "low", "high"] | None = optional()


class ImageFileDeltaPart(DeltaModel):
    index: int
    type: Literal["image_file"] = "image_file"
    image_file: ImageFileDelta


ContentPartDelta = Annotated[TextDeltaPart | ImageFileDeltaPart, Field(discriminator="type")]


class MessageDeltaBody(DeltaModel):
    role: Literal["assistant"] | None = optional()
    content: list[ContentPartDelta]


class MessageDelta(DeltaModel):
    id: str
    object: Literal["thread.message.delta"] = "thread.message.delta"
    delta: MessageDeltaBody


# --- thread.run.step.delta --------------------------------------------------------------------


class FunctionDelta(DeltaModel):
    """The first fragment of a call sends `output=None` explicitly (null: not submitted yet);
    later ones only their `arguments`."""

    name: str | None = optional()
    arguments: str | None = optional()
    output: str | None = optional()


class FunctionToolCallDelta(DeltaModel):
    index: int
    id: str | None = optional()
    type: Literal["function"] = "function"
    function: FunctionDelta


class FileSearchToolCallDelta(DeltaModel):
    index: int
    id: str | None = optional()
    type: Literal["file_search"] = "file_search"
    file_search: dict[str, Any] = Field(default_factory=dict)  # the spec's "always empty"


class CodeInterpreterOutputDelta(DeltaModel):
    # `logs` before `type`: the first fragment of an output has always been sent in this key
    # order (the type was added to the later-built dict), and the bytes stay the same.
    index: int
    logs: str | None = optional()
    type: Literal["logs"] | None = optional()


class CodeInterpreterDelta(DeltaModel):
    input: str | None = optional()
    outputs: list[CodeInterpreterOutputDelta] | None = optional()


class CodeInterpreterToolCallDelta(DeltaModel):
    index: int
    id: str | None = optional()
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreterDelta


ToolCallDelta = Annotated[
    FunctionToolCallDelta | FileSearchToolCallDelta | CodeInterpreterToolCallDelta,
    Field(discriminator="type"),
]


class ToolCallsDelta(DeltaModel):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCallDelta]


class RunStepDeltaBody(DeltaModel):
    step_details: ToolCallsDelta


class RunStepDelta(DeltaModel):
    id: str
    object: Literal["thread.run.step.delta"] = "thread.run.step.delta"
    delta: RunStepDeltaBody
