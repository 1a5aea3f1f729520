"""Check response bodies against OpenAI's published OpenAPI spec (a reference copy outside the
repo): JSON Schema validation of a named component schema, plus a presence check for keys the
schema lists but does not require (the wire contract emits every key, null rather than absent)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "openai-spec" / "openapi.yaml"
SPEC_URI = "urn:openai-spec"
_SCHEMAS_POINTER = "#/components/schemas/"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1)
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The whole spec document, parsed once per session."""
    with path.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=_Loader)
    return spec


def component_schema(name: str) -> dict[str, Any]:
    schemas: dict[str, Any] = load_spec()["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"no schema {name!r} under components/schemas in {SPEC_PATH}")
    schema: dict[str, Any] = schemas[name]
    return schema


@functools.lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    resource = DRAFT202012.create_resource(load_spec())
    return Registry().with_resource(SPEC_URI, resource)


@functools.lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    """A 2020-12 validator for `components/schemas/<name>`, with every in-spec `$ref` resolvable."""
    component_schema(name)  # fail early, and clearly, on a misspelt name
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}{_SCHEMAS_POINTER}{name}"}, registry=_registry()
    )


def _describe(error: ValidationError) -> str:
    text = f"{error.json_path}: {error.message}"
    if error.context:
        closest = best_match(error.context)
        text += f" (closest branch: {closest.json_path}: {closest.message})"
    return text


def schema_errors(instance: object, name: str) -> list[str]:
    """Every validation error as `<JSON path>: <message>`, in document order."""
    errors = validator(name).iter_errors(instance)
    return [_describe(error) for error in sorted(errors, key=lambda e: list(map(str, e.path)))]


def assert_matches_schema(instance: object, schema_name: str) -> None:
    errors = schema_errors(instance, schema_name)
    if errors:
        listing = "\n  ".join(errors)
        raise AssertionError(f"{schema_name}: {len(errors)} schema error(s):\n  {listing}")


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_SCHEMAS_POINTER):
        return component_schema(ref.removeprefix(_SCHEMAS_POINTER))
    return schema


def declared_properties(schema_name: str) -> set[str]:
    """Keys of the schema's `properties`, following `$ref` and `allOf` members one level."""
    schema = _deref(component_schema(schema_name))
    names = set(schema.get("properties", {}))
    for member in schema.get("allOf", []):
        names |= set(_deref(member).get("properties", {}))
    return names


def assert_all_properties_present(
    instance: dict[str, Any], schema_name: str, *, omitted: frozenset[str] = frozenset()
) -> None:
    """Every declared property must be a key of `instance` (null is fine), bar `omitted`."""
    missing = sorted(declared_properties(schema_name) - omitted - instance.keys())
    if missing:
        raise AssertionError(f"{schema_name}: keys absent from the response: {missing}")
