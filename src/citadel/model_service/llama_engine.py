"""The loaded GGUF model: tokenizer, chat template and a token generator, on llama-cpp-python.

Everything here is synchronous and must run on the engine's single worker thread (a llama.cpp context is
not thread-safe); :mod:`citadel.model_service.runner` is the asynchronous face of it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from citadel.config import ModelSettings
from citadel.model_service.chat_template import ChatTemplate
from citadel.model_service.generation import Delta, Generation
from citadel.model_service.sampling import SamplingParams

logger = logging.getLogger(__name__)

# SmolLM2 and most instruct models ship a template; this ChatML one is only the fallback.
_FALLBACK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class LlamaEngine:
    """A GGUF model loaded into one llama.cpp context of ``max_model_len`` tokens."""

    def __init__(self, model_path: Path, settings: ModelSettings) -> None:
        import llama_cpp  # imported here: loading the shared library is the slow part of start-up

        self._llama_cpp = llama_cpp
        self.model_path = model_path
        self.max_model_len = settings.limits.max_model_len
        self._llama = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=settings.limits.max_model_len,
            n_batch=settings.limits.max_num_batched_tokens,
            n_threads=settings.threads,
            verbose=False,
        )
        self._bos = self._llama.token_bos()
        self.chat_template = self._load_chat_template()

    def _load_chat_template(self) -> ChatTemplate:
        metadata: dict[str, str] = self._llama.metadata
        source = metadata.get("tokenizer.chat_template")
        if source is None:
            logger.warning("%s has no chat template; using ChatML", self.model_path.name)
        return ChatTemplate(
            source or _FALLBACK_TEMPLATE,
            bos_token=self._token_text(self._bos),
            eos_token=self._token_text(self._llama.token_eos()),
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: str = self._llama._model.token_get_text(token)
        return text

    @property
    def vocab_size(self) -> int:
        size: int = self._llama.n_vocab()
        return size

    def tokenize(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; special tokens in the text (as a chat template writes them) are parsed."""
        tokens: list[int] = self._llama.tokenize(
            text.encode("utf-8"), add_bos=add_special_tokens, special=True
        )
        # A template that writes the BOS itself plus the tokenizer's own BOS would double it.
        if len(tokens) >= 2 and tokens[0] == tokens[1] == self._bos:
            tokens = tokens[1:]
        return tokens

    def detokenize(self, tokens: list[int]) -> str:
        data: bytes = self._llama.detokenize(tokens)
        return data.decode("utf-8", errors="replace")

    def generate(
        self,
        prompt: list[int],
        params: SamplingParams,
        emit: Callable[[Delta], None],
        cancelled: threading.Event,
    ) -> Generation:
        """Sample until a stop condition, calling ``emit`` per delta; the last has a finish reason."""
        generation = Generation(params.stop, params.max_tokens)
        self._llama.set_seed(params.seed if params.seed is not None else secrets.randbits(31))
        tokens = self._llama.generate(
            prompt,
            top_k=params.top_k if params.top_k > 0 else 0,
            top_p=params.top_p,
            min_p=0.0,
            temp=params.temperature,
            repeat_penalty=1.0,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty,
        )
        previous = list(prompt)
        for token in tokens:
            if cancelled.is_set():
                emit(generation.finish("abort"))
                break
            end = not params.ignore_eos and bool(
                self._llama_cpp.llama_vocab_is_eog(self._llama._model.vocab, token)
            )
            piece = b"" if end else self._llama.detokenize([token], prev_tokens=previous)
            previous.append(token)
            delta = generation.on_token(piece, end_of_generation=end)
            emit(delta)
            if generation.finished:
                break
        tokens.close()
        return generation

    def close(self) -> None:
        self._llama.close()
