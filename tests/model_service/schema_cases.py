"""The JSON schemas structured outputs are tested with, and a strict check of an answer against one."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

SCHEMAS: dict[str, dict[str, Any]] = {
    "nested_objects": {
        "type": "object",
        "properties": {
            "person": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 20},
                    "age": {"type": "integer", "minimum": 0, "maximum": 120},
                    "address": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "maxLength": 20}},
                        "required": ["city"],
                    },
                },
                "required": ["name", "age", "address"],
            }
        },
        "required": ["person"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string", "maxLength": 12},
                "minItems": 1,
                "maxItems": 3,
            },
            "scores": {"type": "array", "items": {"type": "integer"}, "maxItems": 4},
        },
        "required": ["tags", "scores"],
    },
    "enums": {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "size": {"type": "string", "enum": ["S", "M", "L"]},
            "level": {"type": ["integer", "null"], "enum": [1, 2, 3, None]},
        },
        "required": ["colour", "size", "level"],
    },
    "required_and_optional": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "note": {"type": "string", "maxLength": 30},
            "done": {"type": "boolean"},
        },
        "required": ["id"],
        "additionalProperties": False,
    },
    "numbers": {
        "type": "object",
        "properties": {
            "price": {"type": "number"},
            "count": {"type": "integer"},
            "ratio": {"type": ["number", "null"]},
        },
        "required": ["price", "count", "ratio"],
    },
    "patterns_and_formats": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-\\d{3}$"},
            "slug": {"type": "string", "pattern": "[a-z]+(-[a-z]+){0,2}"},
            "day": {"type": "string", "format": "date"},
        },
        "required": ["code", "slug", "day"],
    },
    "refs_and_unions": {
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"sku": {"type": "string", "maxLength": 8}, "qty": {"type": "integer"}},
                "required": ["sku", "qty"],
            }
        },
        "type": "object",
        "properties": {
            "first": {"$ref": "#/$defs/Item"},
            "second": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]},
        },
        "required": ["first", "second"],
    },
    "top_level_array": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 5},
}


def check(schema: dict[str, Any], text: str) -> Any:
    """The parsed answer; raises unless ``text`` is strict JSON valid against ``schema`` (formats too)."""
    value = json.loads(text)  # strict: no raw control characters in strings
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(value)
    return value
