"""JSON schema → GBNF: llama.cpp parses the grammar of every test schema; what it cannot honour is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from citadel.model_service.constraints import chat_constraint
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.grammar import CompiledGrammar, GrammarCache, GrammarSpec
from citadel.model_service.json_schema_grammar import UnsupportedSchema, schema_to_gbnf
from citadel.model_service.schemas import ChatCompletionRequest
from citadel.model_source import resolve_model_source
from tests.helpers import SMOLLM2_SOURCE
from tests.model_service.schema_cases import SCHEMAS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def model() -> Iterator[GgufModel]:
    loaded = GgufModel(resolve_model_source(SMOLLM2_SOURCE))
    yield loaded
    loaded.close()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_llama_cpp_parses_the_grammar_of_every_schema(model: GgufModel, name: str) -> None:
    CompiledGrammar(model.lib, model.vocab, GrammarSpec(schema_to_gbnf(SCHEMAS[name])))


def test_strings_never_admit_raw_quotes_or_control_characters() -> None:
    gbnf = schema_to_gbnf({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string",
                           "pattern": "^.[^x]$"}}, "required": ["a", "b"]})  # fmt: skip
    assert r'char ::= [^"\\\x7F\x00-\x1F]' in gbnf
    assert r"[^\x0A\x0D]" not in gbnf  # llama-cpp-python's own dot, which admits a quote
    assert '[^"\\\\\\x00-\\x1Fx]' in gbnf


def test_a_bounded_integer_becomes_its_values() -> None:
    gbnf = schema_to_gbnf({"type": "integer", "minimum": 1, "exclusiveMaximum": 4})
    assert gbnf.splitlines()[0] == 'root ::= "1" | "2" | "3"'


@pytest.mark.parametrize(
    ("schema", "named"),
    [
        ({"type": "string", "format": "email"}, "`format: email`"),
        ({"type": "number", "maximum": 3}, "`maximum` on a number"),
        ({"type": "integer", "minimum": 0}, "integer bounds"),
        ({"oneOf": [{"type": "string"}]}, "`oneOf`"),
        ({"allOf": [{"type": "string"}, {"maxLength": 3}]}, "`allOf`"),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
            "`required` naming 'b'",
        ),
        ({"type": "object", "properties": {"a": {}}, "additionalProperties": True}, "`additionalProperties`"),
        ({"type": "string", "pattern": "^a\\nb$"}, "`pattern`"),
        ({"type": "string", "pattern": "^[ -~]+$"}, "class"),
        ({"type": "string", "pattern": "^(a)\\1$"}, "`pattern`"),
        ({"type": "string", "pattern": "^a", "maxLength": 3}, "together"),
        ({"type": "array", "items": [{"type": "string"}]}, "`items` as a list"),
        ({"type": "object", "properties": {"x": {"type": "integer", "multipleOf": 2}}}, "#/properties/x"),
        ({"properties": {"a": {"type": "string"}}}, "without a `type`"),
        ({"$ref": "#/$defs/A", "maxLength": 2, "$defs": {"A": {"type": "string"}}}, "`$ref` beside"),
        ({"type": "strin"}, "`type: strin`"),
        ([1, 2], "must be an object"),
    ],
)
def test_refused_features_are_named(schema: Any, named: str) -> None:
    with pytest.raises(UnsupportedSchema) as refused:
        schema_to_gbnf(schema)
    assert named in refused.value.message
    assert refused.value.param == "response_format"
    assert refused.value.status_code == 400


def test_a_tool_schema_refusal_points_at_the_tools() -> None:
    parameters = {"type": "object", "properties": {"when": {"type": "string", "format": "email"}}}
    request = ChatCompletionRequest.model_validate({
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": parameters}}],
    })  # fmt: skip
    constraint = chat_constraint(request)
    assert constraint.build is not None
    with pytest.raises(UnsupportedSchema) as refused:
        constraint.build()
    assert refused.value.param == "tools"


def test_the_cache_builds_and_parses_each_grammar_once(model: GgufModel) -> None:
    built: list[str] = []

    def compile_grammar(spec: GrammarSpec) -> CompiledGrammar:
        return CompiledGrammar(model.lib, model.vocab, spec)

    def build(name: str) -> GrammarSpec:
        built.append(name)
        return GrammarSpec(schema_to_gbnf(SCHEMAS[name]))

    cache = GrammarCache(compile_grammar, size=2)
    first = cache.get("a", lambda: build("enums"))
    assert cache.get("a", lambda: build("enums")) is first
    cache.get("b", lambda: build("numbers"))
    cache.get("c", lambda: build("arrays"))  # evicts "a"
    cache.get("a", lambda: build("enums"))
    assert built == ["enums", "numbers", "arrays", "enums"]
    assert (cache.hits, cache.misses) == (1, 4)


def test_forced_and_lazy_tool_grammars_parse(model: GgufModel) -> None:
    for choice in ("required", "auto"):
        request = ChatCompletionRequest.model_validate({
            "model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": choice,
            "tools": [{"type": "function", "function": {"name": "f"}},
                      {"type": "function", "function": {"name": "g", "parameters": SCHEMAS["enums"]}}],
        })  # fmt: skip
        constraint = chat_constraint(request)
        assert constraint.build is not None
        spec = constraint.build()
        assert spec.lazy == (choice == "auto")
        CompiledGrammar(model.lib, model.vocab, spec)
