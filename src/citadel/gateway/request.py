"""The client's request, parsed once and only as far as routing needs; the model service checks the rest.

The fields the gateway itself reads (for routing, budgets, the cache and retrieval) are type-checked here,
so that no later step meets a value of a type it does not expect; the model service validates the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from citadel.errors import InvalidRequest
from citadel.http_body import decode_json

_CHARS_PER_TOKEN = 4  # a rough estimate for routing rules; the model service counts exactly
# Put in front of a body's first member when the gateway asks for a stream's usage itself: the client's bytes
# follow unchanged (a body without ``stream_options`` cannot get the key twice).
_INCLUDE_USAGE = b'"stream_options":{"include_usage":true},'


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """``raw`` is forwarded unchanged unless something must change it (see :meth:`for_model`)."""

    raw: bytes
    body: dict[str, Any]
    model: str
    stream: bool

    @property
    def usage_added(self) -> bool:
        """A stream whose client did not ask for its usage: the gateway asks for it anyway (the request log,
        budgets and usage metrics need the tokens) and takes the usage chunk out before the client sees it."""
        if not self.stream:
            return False
        options = self.body.get("stream_options")
        return not (isinstance(options, dict) and options.get("include_usage") is True)

    def with_body(self, body: dict[str, Any]) -> ParsedRequest:
        """This request with another body (retrieval's), serialised once; the fields the gateway reads are
        the ones already checked."""
        return ParsedRequest(raw=json.dumps(body).encode(), body=body, model=self.model, stream=self.stream)

    def for_model(self, name: str) -> bytes:
        """The body to send to model ``name``: the client's bytes when it is the model asked for; for a
        stream whose client did not ask for its usage, with ``stream_options.include_usage`` set (put in
        front of the client's bytes when it has no ``stream_options``); re-serialised only to rename."""
        added = self.usage_added
        if name == self.model:
            if not added:
                return self.raw
            if "stream_options" not in self.body:
                start = self.raw.index(b"{") + 1  # the body has members: it names a model
                return self.raw[:start] + _INCLUDE_USAGE + self.raw[start:]
        body = {**self.body, "model": name}
        if added:
            options = self.body.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return json.dumps(body).encode()

    def estimated_prompt_tokens(self) -> int:
        """The prompt's length in tokens, estimated from its characters (for routing rules only)."""
        prompt = self.body.get("prompt")
        if isinstance(prompt, str):
            return len(prompt) // _CHARS_PER_TOKEN
        chars = 0
        messages = self.body.get("messages")
        for message in messages if isinstance(messages, list) else ():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(part.get("text", "")) for part in content if isinstance(part, dict))
        return chars // _CHARS_PER_TOKEN

    def max_tokens(self) -> int:
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) and value > 0 else 0


def parse_request(raw: bytes) -> ParsedRequest:
    """Validate just what the gateway reads: a JSON object with a ``model`` string, and the types of the
    fields that routing, budgets, the cache and retrieval look at."""
    body: Any = decode_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("`model` is required and must be a string.", param="model")
    _check_types(body)
    return ParsedRequest(raw=raw, body=body, model=model, stream=body.get("stream") is True)


def _check_types(body: dict[str, Any]) -> None:
    _expect(body, "stream", bool, "a boolean")
    _expect(body, "stream_options", dict, "an object")
    for name in ("max_tokens", "max_completion_tokens"):
        _expect(body, name, int, "an integer")
    _expect(body, "messages", list, "an array")
    for index, message in enumerate(body.get("messages") or ()):
        param = f"messages.{index}"
        if not isinstance(message, dict):
            raise InvalidRequest(f"`{param}` must be an object.", param=param)
        content = message.get("content")
        if isinstance(content, list):
            for number, part in enumerate(content):
                if not isinstance(part, dict):
                    raise InvalidRequest(f"`{param}.content.{number}` must be an object.", param=param)
                _expect(part, "text", str, "a string", prefix=f"{param}.content.{number}.")
        elif content is not None and not isinstance(content, str):
            raise InvalidRequest(f"`{param}.content` must be a string or an array.", param=f"{param}.content")


def _expect(body: dict[str, Any], name: str, kind: type, described: str, *, prefix: str = "") -> None:
    """``body[name]``, if present and not null, is of ``kind`` (a boolean is not an integer; ``2.0`` is, as
    in JSON Schema and pydantic)."""
    value = body.get(name)
    if value is None or (kind is int and isinstance(value, float) and value.is_integer()):
        return
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        param = f"{prefix}{name}"
        raise InvalidRequest(f"`{param}` must be {described}.", param=param)
