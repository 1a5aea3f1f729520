"""Tools, tool resources and response formats: shared by assistants, threads and runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from assistantd.wire.base import Metadata, RequestModel

FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
FILE_ID = Annotated[str, Field(pattern=r"^file-[A-Za-z0-9_-]+$", max_length=128)]
VECTOR_STORE_ID = Annotated[str, Field(pattern=r"^vs_[A-Za-z0-9_-]+$", max_length=128)]

FILE_SEARCH_DEFAULT_RESULTS = 20


class CodeInterpreterTool(RequestModel):
    type: Literal["code_interpreter"]


class FileSearchRankingOptions(RequestModel):
    ranker: Literal["auto", "default_2024_08_21"] = "auto"
    score_threshold: Annotated[float, Field(ge=0, le=1, strict=False)]


class FileSearchOptions(RequestModel):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: FileSearchRankingOptions | None = None


class FileSearchTool(RequestModel):
    type: Literal["file_search"]
    file_search: FileSearchOptions | None = None


class FunctionDefinition(RequestModel):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


Tool = Annotated[CodeInterpreterTool | FileSearchTool | FunctionTool, Field(discriminator="type")]


def tool_to_row(tool: CodeInterpreterTool | FileSearchTool | FunctionTool) -> dict[str, Any]:
    """The stored and returned form of a tool: defaults filled in, optional non-null keys kept."""
    if isinstance(tool, FunctionTool):
        function: dict[str, Any] = {"name": tool.function.name}
        if tool.function.description is not None:
            function["description"] = tool.function.description
        function["parameters"] = (
            tool.function.parameters
            if tool.function.parameters is not None
            else {"type": "object", "properties": {}}
        )
        function["strict"] = bool(tool.function.strict)
        return {"type": "function", "function": function}
    if isinstance(tool, FileSearchTool):
        options = tool.file_search or FileSearchOptions()
        ranking = options.ranking_options or FileSearchRankingOptions(score_threshold=0.0)
        return {
            "type": "file_search",
            "file_search": {
                "max_num_results": options.max_num_results or FILE_SEARCH_DEFAULT_RESULTS,
                "ranking_options": {
                    "ranker": ranking.ranker,
                    "score_threshold": ranking.score_threshold,
                },
            },
        }
    return {"type": "code_interpreter"}


def check_unique_function_names(
    tools: list[CodeInterpreterTool | FileSearchTool | FunctionTool],
) -> str | None:
    """Name of the first function declared twice, if any (the model could not tell them apart)."""
    seen: set[str] = set()
    for tool in tools:
        if isinstance(tool, FunctionTool):
            if tool.function.name in seen:
                return tool.function.name
            seen.add(tool.function.name)
    return None


# --- tool_resources -------------------------------------------------------------------------


class CodeInterpreterResources(RequestModel):
    file_ids: Annotated[list[FILE_ID], Field(max_length=20)] = []


class StaticChunking(RequestModel):
    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]

    @field_validator("chunk_overlap_tokens")
    @classmethod
    def _overlap_at_most_half(cls, value: int, info: ValidationInfo) -> int:
        # A field validator, so the error names chunk_overlap_tokens itself.
        size = info.data.get("max_chunk_size_tokens")
        if size is not None and value > size // 2:
            raise ValueError(
                f"chunk_overlap_tokens must not exceed half of max_chunk_size_tokens ({size // 2})"
            )
        return value


class AutoChunkingStrategy(RequestModel):
    type: Literal["auto"]


class StaticChunkingStrategy(RequestModel):
    type: Literal["static"]
    static: StaticChunking


ChunkingStrategy = Annotated[
    AutoChunkingStrategy | StaticChunkingStrategy, Field(discriminator="type")
]


class VectorStoreHelper(RequestModel):
    """Create-time helper: a vector store made from these files and attached at once."""

    file_ids: Annotated[list[FILE_ID], Field(max_length=10_000)] = []
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class FileSearchResourcesCreate(RequestModel):
    vector_store_ids: Annotated[list[VECTOR_STORE_ID], Field(max_length=1)] | None = None
    vector_stores: Annotated[list[VectorStoreHelper], Field(max_length=1)] | None = None

    @model_validator(mode="after")
    def _one_of_ids_or_helper(self) -> FileSearchResourcesCreate:
        if self.vector_store_ids and self.vector_stores:
            raise ValueError("give either vector_store_ids or vector_stores, not both")
        return self


class FileSearchResources(RequestModel):
    vector_store_ids: Annotated[list[VECTOR_STORE_ID], Field(max_length=1)] = []


class ToolResourcesCreate(RequestModel):
    """`tool_resources` on assistant and thread create (the vector_stores helper is allowed)."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResourcesCreate | None = None


class ToolResources(RequestModel):
    """`tool_resources` on modify (ids only); also the shape returned on objects."""

    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


def tool_resources_to_row(resources: ToolResources | None) -> dict[str, Any]:
    """The stored and returned form: only the tools that were given, `{}` when none."""
    if resources is None:
        return {}
    out: dict[str, Any] = {}
    if resources.code_interpreter is not None:
        out["code_interpreter"] = {"file_ids": list(resources.code_interpreter.file_ids)}
    if resources.file_search is not None:
        out["file_search"] = {"vector_store_ids": list(resources.file_search.vector_store_ids)}
    return out


# --- response_format ------------------------------------------------------------------------


class ResponseFormatText(RequestModel):
    type: Literal["text"]


class ResponseFormatJsonObject(RequestModel):
    type: Literal["json_object"]


class JsonSchemaFormat(RequestModel):
    name: Annotated[str, Field(pattern=FUNCTION_NAME_PATTERN)]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJsonSchema(RequestModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = (
    Literal["auto"]
    | Annotated[
        ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema,
        Field(discriminator="type"),
    ]
    | None
)


def response_format_to_row(value: ResponseFormat) -> str | dict[str, Any]:
    if value is None or value == "auto":
        return "auto"
    assert not isinstance(value, str)
    return value.model_dump(by_alias=True, exclude_none=True)
