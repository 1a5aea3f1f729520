"""Request rules that the wire schemas cannot express alone and that several objects share."""

from __future__ import annotations

from assistantd.errors import InvalidRequestError
from assistantd.wire.tools import Tool, check_unique_function_names


def check_tools(tools: list[Tool], param: str = "tools") -> None:
    duplicate = check_unique_function_names(tools)
    if duplicate is not None:
        raise InvalidRequestError(
            f"Invalid '{param}': the function name '{duplicate}' is declared more than once.",
            param=param,
        )
