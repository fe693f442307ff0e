"""A GGUF model loaded with llama.cpp: weights, vocabulary and the chat template stored in the file.

Only the model lives here; the decoding context (KV cache, batches) belongs to
:class:`citadel.model_service.batch_engine.BatchEngine`. Vocabulary functions only read the model, so they
may run on any thread, beside a decode in progress.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

from citadel.model_service.chat_template import ChatTemplate
from citadel.model_service.ggml_backends import CpuKernels, load_cpu_backends

logger = logging.getLogger(__name__)

# SmolLM2 and most instruct models ship a template; this ChatML one is only the fallback.
_FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class GgufModel:
    """Weights and vocabulary of one GGUF file."""

    def __init__(self, path: Path, *, extra_buffer_types: bool = False) -> None:
        from llama_cpp import _internals, _logger, llama_cpp  # loading the shared library is the slow part

        _logger.set_verbose(False)  # llama.cpp's own log: errors only (it prints every layer otherwise)
        self.lib: Any = llama_cpp
        # A portable build loads its CPU kernels now (the best variant for this CPU), before any model.
        self.kernels: CpuKernels = load_cpu_backends(llama_cpp)
        logger.info(self.kernels.describe())
        llama_cpp.llama_backend_init()
        self.path = path
        # The parameters the weights were loaded with, kept so that what was chosen can be checked.
        self.load_params: Any = llama_cpp.llama_model_default_params()
        # Extra buffer types are llama.cpp's CPU-specific weight layouts (AMX tiles, repacked quants). Its
        # AMX path crashed on Intel Sapphire Rapids with prompts of 6+ tokens, so they are opt-in.
        self.load_params.use_extra_bufts = extra_buffer_types
        logger.info(
            "loading %s with llama.cpp's extra buffer types %s",
            path.name,
            "on (model.extra_buffer_types)" if extra_buffer_types else "off",
        )
        self._model: Any = _internals.LlamaModel(path_model=str(path), params=self.load_params, verbose=False)
        self.pointer: Any = self._model.model
        self.vocab: Any = self._model.vocab
        self.n_vocab: int = self._model.n_vocab()
        self.bos: int = self._model.token_bos()
        self.chat_template = self._load_chat_template()

    def _load_chat_template(self) -> ChatTemplate:
        source = self._model.metadata().get("tokenizer.chat_template")
        if source is None:
            logger.warning("%s has no chat template; using ChatML", self.path.name)
        return ChatTemplate(
            source or _FALLBACK_TEMPLATE,
            bos_token=self._token_text(self.bos),
            eos_token=self._token_text(self._model.token_eos()),
        )

    def _token_text(self, token: int) -> str:
        return "" if token < 0 else str(self._model.token_get_text(token))

    def tokenize(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; special tokens in the text (as a chat template writes them) are parsed."""
        tokens: list[int] = self._model.tokenize(text.encode("utf-8"), add_special_tokens, True)
        # A template that writes the BOS itself plus the tokenizer's own BOS would double it.
        if len(tokens) >= 2 and tokens[0] == tokens[1] == self.bos:
            tokens = tokens[1:]
        return tokens

    def piece(self, token: int) -> bytes:
        """The bytes of one token as generated text (special tokens render as nothing)."""
        buffer = ctypes.create_string_buffer(64)
        length = self.lib.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
        if length > len(buffer):
            buffer = ctypes.create_string_buffer(length)
            length = self.lib.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[: max(length, 0)]

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(token) for token in tokens).decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def close(self) -> None:
        self._model.close()
