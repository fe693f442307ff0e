"""JSON schema → GBNF for llama.cpp's grammar sampler, refusing what the grammar could not guarantee.

The conversion itself is llama-cpp-python's :class:`~llama_cpp.llama_grammar.SchemaConverter`. Before it
runs, :func:`_normalize` walks the schema: it rewrites what the converter reads differently from JSON
Schema (type lists, ``enum`` beside ``type``, unanchored patterns, ``\\d``) and raises
:class:`UnsupportedSchema` naming any keyword the grammar would ignore, so that every output the grammar
admits validates against the schema. Strings are restricted to what JSON allows unescaped.

>>> gbnf = schema_to_gbnf({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})
>>> "root ::=" in gbnf
True
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

from citadel.errors import InvalidRequest

# Keywords that only describe: they never change which values are valid.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
     "readOnly", "writeOnly", "strict"}
)  # fmt: skip
_BY_TYPE: dict[str, frozenset[str]] = {
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "array": frozenset({"items", "prefixItems", "minItems", "maxItems"}),
    "string": frozenset({"pattern", "minLength", "maxLength", "format"}),
    "integer": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    "number": frozenset(),
    "boolean": frozenset(),
    "null": frozenset(),
}
_STRUCTURE = frozenset({"type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions"})
_FORMATS = frozenset({"date", "time", "date-time", "uuid"})
_MAX_INTEGER_CHOICES = 256  # a bounded integer becomes an enum of its values, up to this many

# A JSON string's characters: anything but a quote, a backslash or a control character, or an escape.
_CHAR_RULE = r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
_SAFE_DOT = r'[^"\\\x7F\x00-\x1F]'  # a pattern's ``.`` inside a JSON string
_PATTERN_SHORTHANDS = {r"\d": "[0-9]", r"\w": "[a-zA-Z0-9_]", r"\s": "[ ]"}
_REFUSED_ESCAPES = re.compile(r"\\[DWSbBpPkQEAzZ0-9nrtfv]")
_CLASS = re.compile(r"\[(\^?)((?:\\.|[^\]])*)\]")
_UNSAFE = (0x22, 0x5C)  # a quote and a backslash, which a JSON string cannot hold raw


class UnsupportedSchema(InvalidRequest):
    """A schema feature the grammar cannot honour; the message names it and where it is."""

    code = "unsupported_schema"


def schema_to_gbnf(schema: object, *, root: str = "root", param: str = "response_format") -> str:
    """The GBNF grammar whose language is the JSON texts valid against ``schema``.

    ``root`` names the top rule (a caller composing grammars picks its own); ``param`` is the request
    field a refusal points at.
    """
    if not isinstance(schema, dict):
        raise UnsupportedSchema("the JSON schema must be an object", param=param)
    normalized = _normalize(schema, "#", param)
    converter = _converter_class()(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        resolved = converter.resolve_refs(normalized, "")
        converter.visit(resolved, "" if root == "root" else root)
    except (AssertionError, ValueError, KeyError, RecursionError) as exc:
        raise UnsupportedSchema(
            f"the JSON schema cannot be turned into a grammar: {exc}", param=param
        ) from exc
    grammar: str = converter.format_grammar()
    return grammar


@functools.cache
def _converter_class() -> Any:
    """llama-cpp-python's converter, with JSON strings kept free of raw quotes and control characters."""
    from llama_cpp.llama_grammar import DOT, SchemaConverter  # loads llama.cpp, as the engine has already

    class Converter(SchemaConverter):
        def _add_rule(self, name: str, rule: str) -> str:
            key: str = super()._add_rule(name, _SAFE_DOT if rule == DOT else rule)  # type: ignore[no-untyped-call]
            return key

        def _add_primitive(self, name: str, rule: Any) -> str:
            if name == "char":
                key: str = self._add_rule("char", _CHAR_RULE)
                return key
            key = super()._add_primitive(name, rule)
            return key

    return Converter


def _refuse(feature: str, where: str, param: str) -> UnsupportedSchema:
    return UnsupportedSchema(
        f"JSON schema feature {feature} (at {where}) is not supported by structured outputs", param=param
    )


def _normalize(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    """A copy of ``schema`` in the subset the converter reads as JSON Schema does."""
    schema = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
    allowed = _STRUCTURE.union(*_BY_TYPE.values())
    for key in schema:
        if key not in allowed:
            raise _refuse(f"`{key}`", where, param)
    for defs in ("$defs", "definitions"):
        if defs in schema:
            schema[defs] = {
                name: _normalize(sub, f"{where}/{defs}/{name}", param) for name, sub in schema[defs].items()
            }
    ref = schema.get("$ref")
    if ref is not None:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _refuse(f"`$ref` to {ref!r} (only local references)", where, param)
        if set(schema) - {"$ref", "$defs", "definitions"}:
            raise _refuse("`$ref` beside other constraints", where, param)
        return schema
    if "allOf" in schema:
        return _single_all_of(schema, where, param)
    if "anyOf" in schema:
        siblings = set(schema) - {"anyOf", "$defs", "definitions"}
        if siblings:
            raise _refuse(f"`anyOf` beside {sorted(siblings)}", where, param)
        schema["anyOf"] = [
            _normalize(sub, f"{where}/anyOf/{index}", param) for index, sub in enumerate(schema["anyOf"])
        ]
        return schema
    if "enum" in schema or "const" in schema:
        return _choices(schema, where, param)
    kind = schema.get("type")
    if isinstance(kind, list):
        alternatives = [_normalize({**_for_type(schema, t), "type": t}, where, param) for t in kind]
        return {"anyOf": alternatives, **_defs(schema)}
    if kind is None:
        constraints = set(schema) - {"$defs", "definitions"}
        if constraints:  # e.g. properties without a type: JSON Schema applies them only to objects
            raise _refuse(f"{sorted(constraints)} without a `type`", where, param)
        return {"type": "object", **schema}  # any JSON value: the converter writes an object, which is one
    if kind not in _BY_TYPE:
        raise _refuse(f"`type: {kind}`", where, param)
    for key in set(schema) - {"type", "$defs", "definitions"}:
        if key not in _BY_TYPE[kind]:
            raise _refuse(f"`{key}` on a {kind}", where, param)
    return _typed(schema, kind, where, param)


def _defs(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: schema[key] for key in ("$defs", "definitions") if key in schema}


def _for_type(schema: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key in _BY_TYPE.get(kind, frozenset())}


def _single_all_of(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    parts = schema["allOf"]
    if not isinstance(parts, list) or len(parts) != 1 or set(schema) - {"allOf", "$defs", "definitions"}:
        raise _refuse("`allOf` (other than a single schema)", where, param)
    return {**_normalize(parts[0], f"{where}/allOf/0", param), **_defs(schema)}


def _choices(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    values = [schema["const"]] if "const" in schema else schema["enum"]
    kind = schema.get("type")
    if kind is not None:  # the converter reads only the values: keep those of the right type
        kinds = kind if isinstance(kind, list) else [kind]
        values = [value for value in values if any(_is_type(value, k) for k in kinds)]
    if not values:
        raise _refuse("`enum` with no value of the given type", where, param)
    return {"enum": values, **_defs(schema)}


def _is_type(value: object, kind: str) -> bool:
    checks: dict[str, bool] = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }
    return checks.get(kind, False)


def _typed(schema: dict[str, Any], kind: str, where: str, param: str) -> dict[str, Any]:
    if kind == "object":
        return _object(schema, where, param)
    if kind == "array":
        return _array(schema, where, param)
    if kind == "string":
        return _string(schema, where, param)
    if kind == "integer":
        return _integer(schema, where, param)
    return schema


def _object(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in properties:
            raise _refuse(f"`required` naming {name!r}, which `properties` does not define", where, param)
    if properties:
        schema["properties"] = {
            name: _normalize(sub, f"{where}/properties/{name}", param) for name, sub in properties.items()
        }
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        schema["additionalProperties"] = _normalize(extra, f"{where}/additionalProperties", param)
    if properties and extra not in (None, False):
        # The grammar could write a defined property's name as an "additional" key with another value.
        raise _refuse("`additionalProperties` beside `properties`", where, param)
    return schema


def _array(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    if "prefixItems" in schema and set(schema) & {"items", "minItems", "maxItems"}:
        raise _refuse("`prefixItems` with `items`, `minItems` or `maxItems`", where, param)
    items = schema.get("items")
    if isinstance(items, list):
        raise _refuse("`items` as a list (use `prefixItems`)", where, param)
    if isinstance(items, dict):
        schema["items"] = _normalize(items, f"{where}/items", param)
    elif items is None and "prefixItems" not in schema:
        schema["items"] = {}  # any value
    if "prefixItems" in schema:
        schema["prefixItems"] = [
            _normalize(sub, f"{where}/prefixItems/{i}", param) for i, sub in enumerate(schema["prefixItems"])
        ]
    return schema


def _string(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    shaped = [key for key in ("pattern", "format") if key in schema]
    if len(shaped) > 1 or (shaped and set(schema) & {"minLength", "maxLength"}):
        raise _refuse(f"{sorted(set(schema) - {'type'})} together", where, param)
    if "format" in schema and schema["format"] not in _FORMATS:
        raise _refuse(f"`format: {schema['format']}`", where, param)
    if "pattern" in schema:
        schema["pattern"] = _pattern(schema["pattern"], where, param)
    return schema


def _pattern(pattern: object, where: str, param: str) -> str:
    """The pattern anchored (JSON Schema's ``pattern`` searches; an anchored match satisfies it) and in
    the regex subset the converter reads, with characters a JSON string cannot hold raw kept out."""
    if not isinstance(pattern, str):
        raise _refuse("a `pattern` that is not a string", where, param)
    if '"' in pattern or "\\\\" in pattern or _REFUSED_ESCAPES.search(pattern):
        raise _refuse(
            f"`pattern` {pattern!r} (quotes, backslashes, back-references, \\D \\W \\S \\b)", where, param
        )
    _check_classes(pattern, where, param)
    body = pattern.removeprefix("^")
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    for shorthand, char_class in _PATTERN_SHORTHANDS.items():
        # Inside a class, ``[\d_]`` becomes ``[0-9_]``; outside, ``\d`` becomes ``[0-9]``.
        inside = re.compile(r"(\[[^\]]*)" + re.escape(shorthand))
        while inside.search(body):
            body = inside.sub(functools.partial(_in_class, char_class[1:-1]), body)
        body = body.replace(shorthand, char_class)
    body = body.replace("(?:", "(").replace("[^", '[^"\\\\\\x00-\\x1F')
    try:
        re.compile(body)
    except re.error as exc:
        raise _refuse(f"`pattern` {pattern!r} ({exc})", where, param) from exc
    return f"^({body})$"


def _in_class(members: str, match: re.Match[str]) -> str:
    return f"{match.group(1)}{members}"


def _check_classes(pattern: str, where: str, param: str) -> None:
    """Refuse a positive character class that admits a quote, a backslash or a control character."""
    for negated, members in _CLASS.findall(pattern):
        if negated:
            continue  # negated classes get those characters added to what they exclude
        for low, high in re.findall(r"(\\?.)(?:-(\\?.))?", members):
            first, last = ord(low[-1]), ord((high or low)[-1])
            if low.startswith("\\") and low[-1] in "dws":
                continue
            if first < 0x20 or any(first <= unsafe <= last for unsafe in _UNSAFE):
                raise _refuse(
                    f"`pattern` class [{members}] (it admits a quote, backslash or control character)",
                    where,
                    param,
                )


def _integer(schema: dict[str, Any], where: str, param: str) -> dict[str, Any]:
    bounds = set(schema) & _BY_TYPE["integer"]
    if not bounds:
        return schema
    low = _bound(schema, "minimum", "exclusiveMinimum", 1)
    high = _bound(schema, "maximum", "exclusiveMaximum", -1)
    if low is None or high is None or high - low + 1 > _MAX_INTEGER_CHOICES:
        raise _refuse(
            f"integer bounds {sorted(bounds)} other than a range of at most {_MAX_INTEGER_CHOICES} values",
            where,
            param,
        )
    if high < low:
        raise _refuse("an integer range with no value", where, param)
    return {"enum": list(range(low, high + 1))}


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, step: int) -> int | None:
    if inclusive in schema:
        value = float(schema[inclusive])
        return math.ceil(value) if step > 0 else math.floor(value)
    if exclusive in schema:
        value = float(schema[exclusive])
        nearest = math.floor(value) + 1 if step > 0 else math.ceil(value) - 1
        return nearest
    return None


def canonical(schema: object) -> str:
    """One text per schema, whatever its key order: the grammar cache's key."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))
