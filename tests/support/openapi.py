"""Check response bodies against OpenAI's published OpenAPI spec (the excerpt in
tests/data/openai-spec, with its source and licence): JSON Schema validation of a named
component schema, plus a presence check for keys the schema lists but does not require (the
wire contract emits every key, null rather than absent)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "openai-spec" / "openapi.yaml"
SPEC_URI = "urn:openai-spec"
_SCHEMAS_POINTER = "#/components/schemas/"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1)
def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The whole spec document, parsed once per session."""
    with path.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=_Loader)
    return _with_nullable(spec)


def _with_nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (still used by some schemas, e.g. RunObject) as the JSON
    Schema it means: the schema, or null. JSON Schema validators ignore the keyword otherwise."""
    if isinstance(node, list):
        return [_with_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _with_nullable(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def component_schema(name: str) -> dict[str, Any]:
    schemas: dict[str, Any] = load_spec()["components"]["schemas"]
    if name not in schemas:
        raise KeyError(f"no schema {name!r} under components/schemas in {SPEC_PATH}")
    schema: dict[str, Any] = schemas[name]
    return schema


@functools.lru_cache(maxsize=1)
def _registry() -> Registry[Any]:
    resource = DRAFT202012.create_resource(load_spec())
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A 2020-12 validator for `components/schemas/<name>`, with every in-spec `$ref` resolvable."""
    component_schema(name)  # fail early, and clearly, on a misspelt name
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}{_SCHEMAS_POINTER}{name}"}, registry=_registry()
    )


def _other_variant(error: ValidationError) -> bool:
    """A branch failure that only says "this is another variant": not null, other `type` tag."""
    if error.validator == "type" and error.validator_value == "null":
        return True
    return error.validator in ("enum", "const") and list(error.relative_path)[-1:] == ["type"]


def _causes(error: ValidationError) -> list[ValidationError]:
    """Leaf failures of the anyOf/oneOf branches the instance was presumably meant to match."""
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [errs for errs in branches.values() if not any(map(_other_variant, errs))]
    leaves: list[ValidationError] = []
    for errs in meant or branches.values():
        for sub in errs:
            leaves.extend(_causes(sub) if sub.context else [sub])
    return leaves


def _describe(error: ValidationError) -> str:
    text = f"{error.json_path}: {error.message}"
    causes = dict.fromkeys(f"{leaf.json_path}: {leaf.message}" for leaf in _causes(error))
    return f"{text} (because {'; '.join(causes)})" if causes else text


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
