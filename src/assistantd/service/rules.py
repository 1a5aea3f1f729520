"""Request rules that the wire schemas cannot express alone and that several objects share."""

from __future__ import annotations

from assistantd.errors import InvalidRequestError
from assistantd.wire.tools import Tool, ToolResourcesCreate, check_unique_function_names


def check_tools(tools: list[Tool], param: str = "tools") -> None:
    duplicate = check_unique_function_names(tools)
    if duplicate is not None:
        raise InvalidRequestError(
            f"Invalid '{param}': the function name '{duplicate}' is declared more than once.",
            param=param,
        )


def check_create_resources(resources: ToolResourcesCreate | None) -> None:
    """The vector_stores helper needs the vector store API (a later issue); refuse it clearly."""
    if resources is not None and resources.file_search and resources.file_search.vector_stores:
        raise InvalidRequestError(
            "Creating a vector store through tool_resources.file_search.vector_stores is not "
            "supported by this server yet; pass vector_store_ids instead.",
            param="tool_resources.file_search.vector_stores",
            code="unsupported_parameter",
        )
