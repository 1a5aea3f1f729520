"""Search `filters` on vector-store file attributes: comparison and compound, evaluated per file."""

from __future__ import annotations

from typing import Any

from assistantd.wire.vector_stores import ComparisonFilter, CompoundFilter

Scalar = str | float | int | bool


def matches(node: ComparisonFilter | CompoundFilter, attributes: dict[str, Any] | None) -> bool:
    if isinstance(node, CompoundFilter):
        results = (matches(child, attributes) for child in node.filters)
        return all(results) if node.type == "and" else any(results)
    attrs = attributes or {}
    if node.key not in attrs:
        # A file without the attribute is "not equal" to anything and "not in" any list.
        return node.type in ("ne", "nin")
    return _compare(node.type, attrs[node.key], node.value)


def _same_kind(a: Any, b: Any) -> bool:
    """Booleans only compare with booleans, numbers with numbers, strings with strings."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op in ("in", "nin"):
        values = expected if isinstance(expected, list) else [expected]
        found = any(_same_kind(actual, v) and actual == v for v in values)
        return found if op == "in" else not found
    if isinstance(expected, list):
        return False
    if op == "eq":
        return _same_kind(actual, expected) and actual == expected
    if op == "ne":
        return not (_same_kind(actual, expected) and actual == expected)
    if not _same_kind(actual, expected) or isinstance(actual, bool):
        return False
    if op == "gt":
        return bool(actual > expected)
    if op == "gte":
        return bool(actual >= expected)
    if op == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)  # lte
