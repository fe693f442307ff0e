"""What a chat request constrains its answer to: a JSON schema, a tool call, or nothing.

* ``response_format`` ``json_object`` / ``json_schema``: a grammar from the first token on.
* ``tool_choice`` ``required`` or a named function: a grammar that writes one ``<tool_call>`` block (more
  with ``parallel_tool_calls``) whose JSON names a tool and holds arguments valid against its parameters.
* ``tool_choice`` ``auto`` (the default with tools): the same grammar, lazy: the model writes free text
  until it writes ``<tool_call>``, and from there on the grammar holds.
* ``tool_choice`` ``none``: no tools offered, nothing constrained (unless ``response_format`` asks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from citadel.errors import InvalidRequest
from citadel.model_service.grammar import GrammarSpec
from citadel.model_service.json_schema_grammar import canonical, schema_to_gbnf
from citadel.model_service.schemas import ChatCompletionRequest, NamedToolChoice, Tool
from citadel.model_service.tool_prompt import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

MAX_PARALLEL_CALLS = 8  # a small model asked for parallel calls could otherwise repeat one forever
_NO_PARAMETERS = {"type": "object", "properties": {}}
# The lazy grammar takes over when the text ends in the marker (and at most a few blanks): the token that
# completes the match then holds nothing the grammar would refuse.
_TRIGGER = f"({TOOL_CALL_OPEN})[ \\n]{{0,3}}$"


@dataclass(frozen=True, slots=True)
class ChatConstraint:
    """``key`` names the grammar in the cache (None: no grammar); ``build`` makes it on a cache miss and
    raises a 400 for a schema it cannot honour."""

    key: str | None
    build: Callable[[], GrammarSpec] | None
    offered_tools: list[Tool] | None
    parses_tool_calls: bool


def chat_constraint(request: ChatCompletionRequest) -> ChatConstraint:
    """What ``request`` constrains its answer to."""
    choice = request.tool_choice
    tools = request.tools or []
    _check_tools(tools, choice)
    wants_json = request.response_format is not None and request.response_format.type != "text"
    if tools and choice != "none":
        if isinstance(choice, NamedToolChoice):
            called = [tool for tool in tools if tool.function.name == choice.function.name]
        else:
            called = tools
        forced = choice is not None and choice != "auto"
        if wants_json and not forced:
            raise InvalidRequest(
                "response_format cannot be combined with tools when tool_choice is auto; use "
                "tool_choice 'required' or a named function, or leave the tools out",
                param="response_format",
            )
        parallel = request.parallel_tool_calls and not isinstance(choice, NamedToolChoice)
        key = "tools:" + canonical(
            [forced, parallel, [[t.function.name, t.function.parameters] for t in called]]
        )
        build = functools.partial(_tool_call_grammar, called, forced=forced, parallel=parallel)
        return ChatConstraint(key, build, tools, True)
    if wants_json and request.response_format is not None:
        schema: object = {"type": "object"}
        if request.response_format.type == "json_schema" and request.response_format.json_schema is not None:
            schema = request.response_format.json_schema.json_schema
        key = "schema:" + canonical(schema)
        return ChatConstraint(key, lambda: GrammarSpec(schema_to_gbnf(schema)), None, False)
    return ChatConstraint(None, None, None, False)


def _check_tools(tools: list[Tool], choice: object) -> None:
    names = [tool.function.name for tool in tools]
    if len(set(names)) != len(names):
        raise InvalidRequest("tools must have distinct function names", param="tools")
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise InvalidRequest(
            f"tool_choice names the function {choice.function.name!r}, which is not among the tools",
            param="tool_choice",
        )
    if choice == "required" and not names:
        raise InvalidRequest("tool_choice 'required' needs tools", param="tool_choice")


def _tool_call_grammar(tools: list[Tool], *, forced: bool, parallel: bool) -> GrammarSpec:
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.function.name},
                "arguments": tool.function.parameters or _NO_PARAMETERS,
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    schema = calls[0] if len(calls) == 1 else {"anyOf": calls}
    rules = schema_to_gbnf(schema, root="tool-call", param="tools")
    opening = '"\\n"' if forced else "[ \\n]{0,3}"
    block = f'"{TOOL_CALL_OPEN}" {opening} tool-call "\\n{TOOL_CALL_CLOSE}"'
    more = f' ("\\n{TOOL_CALL_OPEN}\\n" tool-call "\\n{TOOL_CALL_CLOSE}"){{0,{MAX_PARALLEL_CALLS - 1}}}'
    root = f"root ::= {block}{more if parallel else ''}"
    if forced:
        return GrammarSpec(f"{root}\n{rules}")
    return GrammarSpec(f"{root}\n{rules}", lazy=True, triggers=(_TRIGGER,))
