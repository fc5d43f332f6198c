"""The mock's schema -> value generator: what it makes validates against the schema it was made for."""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import pydantic
import pytest

from ferrogate.ai.providers.mock_schema import value_for


def _valid(schema: Any) -> Any:
    value = value_for(schema)
    validator = jsonschema.validators.validator_for(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(value)
    return value


def test_an_object_gets_its_required_properties_with_their_types() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "hot": {"type": "boolean"}},
        "required": ["city", "days", "hot"],
        "additionalProperties": False,
    }
    assert set(_valid(schema)) == {"city", "days", "hot"}


def test_an_enum_gives_one_of_its_values() -> None:
    assert _valid({"type": "string", "enum": ["celsius", "fahrenheit"]}) == "celsius"


def test_const_is_returned_as_is() -> None:
    assert _valid({"const": {"k": [1, 2]}}) == {"k": [1, 2]}


def test_a_default_is_used() -> None:
    assert _valid({"type": "string", "default": "metric"}) == "metric"


def test_nested_objects_and_arrays_are_filled() -> None:
    schema = {
        "type": "object",
        "properties": {
            "stops": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"at": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]}},
                    "required": ["at"],
                },
            }
        },
        "required": ["stops"],
    }
    assert len(_valid(schema)["stops"]) == 2


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 10, "maximum": 12},
        {"type": "integer", "exclusiveMinimum": 10},
        {"type": "integer", "maximum": -3},
        {"type": "integer", "exclusiveMaximum": 0},
        {"type": "integer", "minimum": 0.5},
        {"type": "integer", "multipleOf": 7, "minimum": 8},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        {"type": "number", "minimum": 5.5},
        {"type": "number", "maximum": -0.25},
        {"type": "number", "multipleOf": 0.5, "exclusiveMinimum": 2},
        {"type": "integer", "minimum": 3, "exclusiveMinimum": True},
    ],
)
def test_numbers_respect_bounds_and_multiple_of(schema: dict[str, Any]) -> None:
    _valid(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 12},
        {"type": "string", "maxLength": 2},
        {"type": "string", "pattern": r"^\d{3}-[a-z]{2,}$"},
        {"type": "string", "pattern": r"^(?:EUR|USD)[0-9]+\.[0-9]{2}$"},
        {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
        {"type": "string", "pattern": r"^[A-Z][a-z]*( [A-Z][a-z]*)*$"},
    ],
)
def test_strings_respect_length_and_pattern(schema: dict[str, Any]) -> None:
    _valid(schema)


@pytest.mark.parametrize("fmt", ["date-time", "date", "email", "uri", "uuid", "ipv4", "ipv6", "hostname"])
def test_string_formats_are_well_formed(fmt: str) -> None:
    _valid({"type": "string", "format": fmt})


def test_unique_items_are_distinct() -> None:
    schema = {
        "type": "array",
        "minItems": 3,
        "uniqueItems": True,
        "items": {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}},
    }
    _valid(schema)
    _valid({"type": "array", "minItems": 2, "uniqueItems": True, "items": {"enum": ["a", "b", "c"]}})


def test_max_items_zero_gives_an_empty_array() -> None:
    assert _valid({"type": "array", "maxItems": 0}) == []


def test_prefix_items_give_a_tuple() -> None:
    schema = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False}
    value = _valid(schema)
    assert isinstance(value[0], str) and isinstance(value[1], int)


def test_a_nullable_type_list_gets_a_value_not_null() -> None:
    assert _valid({"type": ["null", "string"]}) == "mock"


def test_optional_any_of_gets_the_non_null_branch() -> None:
    assert _valid({"anyOf": [{"type": "null"}, {"type": "integer"}]}) == 1


def test_all_of_parts_are_merged() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer", "minimum": 4}}, "required": ["b"]},
        ]
    }
    assert set(_valid(schema)) == {"a", "b"}


def test_min_properties_adds_optional_properties() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"], "minProperties": 2}
    assert set(_valid(schema)) == {"a", "b"}


def test_local_refs_resolve_into_defs() -> None:
    schema = {
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Place"}, "work": {"$ref": "#/definitions/Place"}},
        "required": ["home", "work"],
        "$defs": {"Place": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["zip"]}},
        "definitions": {"Place": {"$ref": "#/$defs/Place"}},
    }
    assert _valid(schema)["home"] == {"zip": "00000"}


def test_a_recursive_schema_ends() -> None:
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["name", "children"],
            }
        },
    }
    _valid(schema)


def test_an_unknown_or_empty_schema_still_gets_a_value() -> None:
    assert _valid({}) == "mock"
    assert _valid({"x-custom": 1, "not": {"type": "integer"}}) == "mock"


class _Address(pydantic.BaseModel):
    street: str
    zip_code: str = pydantic.Field(pattern=r"^\d{5}(-\d{4})?$")


class _Person(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=2, max_length=40)
    age: int = pydantic.Field(ge=0, le=130)
    role: Literal["admin", "user"]
    address: _Address
    previous: list[_Address] = []
    nickname: str | None = None
    score: float = pydantic.Field(gt=0, lt=1)


def test_a_pydantic_models_schema_gives_a_value_the_model_parses() -> None:
    schema = _Person.model_json_schema()
    person = _Person.model_validate(_valid(schema))
    assert person.role == "admin" and person.address.zip_code
