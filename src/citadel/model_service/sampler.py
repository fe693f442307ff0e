"""Per-request samplers as llama.cpp sampler chains, so sampling runs in C on the decoded logits."""

from __future__ import annotations

import secrets
from typing import Any

from citadel.model_service.sampling import SamplingParams


class Sampler:
    """One request's sampler chain; it remembers sampled tokens for the presence/frequency penalties.

    As in vLLM, the penalties apply to generated tokens only. Temperature 0 is greedy (argmax).
    """

    def __init__(self, lib: Any, n_vocab: int, params: SamplingParams) -> None:
        self._lib = lib
        self._chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        add = self._add
        if params.presence_penalty or params.frequency_penalty:
            add(
                lib.llama_sampler_init_penalties(
                    n_vocab, params.max_tokens, 1.0, params.frequency_penalty, params.presence_penalty
                )
            )
        if params.temperature == 0:
            add(lib.llama_sampler_init_greedy())
            return
        if params.top_k > 0:
            add(lib.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(lib.llama_sampler_init_top_p(params.top_p, 1))
        add(lib.llama_sampler_init_temp(params.temperature))
        seed = params.seed if params.seed is not None else secrets.randbits(32)
        add(lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def _add(self, sampler: Any) -> None:
        self._lib.llama_sampler_chain_add(self._chain, sampler)  # the chain owns and frees it

    def sample(self, context: Any, output_index: int) -> int:
        """Sample from the logits of batch row ``output_index`` (and accept the token)."""
        token: int = self._lib.llama_sampler_sample(self._chain, context, output_index)
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None
