"""Rendering chat messages into a prompt with the Jinja chat template stored in the GGUF file."""

from __future__ import annotations

from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from citadel.errors import InvalidRequest


def _raise_exception(message: str) -> None:
    raise InvalidRequest(f"chat template: {message}")


class ChatTemplate:
    """The model's own chat template (``tokenizer.chat_template`` in the GGUF metadata).

    Rendered in Jinja's immutable sandbox, as Hugging Face's tokenizers do, since a model file is
    data that should not get to run code.
    """

    def __init__(self, source: str, *, bos_token: str, eos_token: str) -> None:
        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        environment.globals["raise_exception"] = _raise_exception
        self._template = environment.from_string(source)
        self._bos_token = bos_token
        self._eos_token = eos_token
        # Templates that render tools themselves (Hermes, Qwen, Llama 3.x, Mistral) read a `tools` variable.
        self.supports_tools = "tools" in meta.find_undeclared_variables(environment.parse(source))

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """The prompt text for ``messages``, ending where the assistant's answer begins.

        ``tools`` (OpenAI's tool objects) are passed only to a template that :attr:`supports_tools`.
        """
        extra: dict[str, Any] = {"tools": tools} if tools and self.supports_tools else {}
        try:
            return self._template.render(
                messages=messages,
                bos_token=self._bos_token,
                eos_token=self._eos_token,
                add_generation_prompt=True,
                **extra,
            )
        except jinja2.TemplateError as exc:
            raise InvalidRequest(
                f"messages cannot be rendered with the model's chat template: {exc}"
            ) from exc
