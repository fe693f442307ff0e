"""Per-request samplers as llama.cpp sampler chains, so sampling runs in C on the decoded logits."""

from __future__ import annotations

import ctypes
import math
import secrets
from typing import Any

import numpy as np

from citadel.model_service.sampling import SamplingParams

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])  # llama_token_data


class Sampler:
    """One request's sampler chain; it remembers sampled tokens for the presence/frequency penalties.

    As in vLLM, the penalties apply to generated tokens only. Temperature 0 is greedy (argmax).
    ``choice`` (of ``params.n``) offsets a given seed, so that the choices of one request differ.

    A grammar is checked after sampling, as llama.cpp's own server does: the chain samples from the raw
    logits, and only when the grammar refuses that token are the logits masked by the grammar (a pass
    over the whole vocabulary) and sampled again. The result has the distribution of sampling from the
    masked logits (a refused draw is thrown away and redrawn from the allowed mass), at the cost of one
    check per token in the common case. With penalties, which must see exactly the accepted tokens, the
    grammar sits first in the chain instead and masks every step.
    """

    def __init__(self, lib: Any, n_vocab: int, params: SamplingParams, choice: int = 0) -> None:
        self._lib = lib
        self._n_vocab = n_vocab
        self._chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        self._grammar: Any = None  # checked after sampling (see above); owned by this sampler
        self._candidates: Any = None  # the whole vocabulary, allocated on the first refusal
        penalties = bool(params.presence_penalty or params.frequency_penalty)
        add = self._add
        if params.grammar is not None:
            if penalties:
                add(params.grammar.instantiate())
            else:
                self._grammar = params.grammar.instantiate()
                self._one = (lib.llama_token_data * 1)()
                self._one_array = lib.llama_token_data_array(self._one, 1, -1, False)
        if penalties:
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
        seed = params.seed + choice if params.seed is not None else secrets.randbits(32)
        add(lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def _add(self, sampler: Any) -> None:
        self._lib.llama_sampler_chain_add(self._chain, sampler)  # the chain owns and frees it

    def sample(self, context: Any, output_index: int) -> int:
        """Sample from the logits of batch row ``output_index`` (and accept the token)."""
        token: int = self._lib.llama_sampler_sample(self._chain, context, output_index)
        if self._grammar is not None:
            if not self._allowed(token):
                token = self._sample_masked(context, output_index)
            self._lib.llama_sampler_accept(self._grammar, token)
        return token

    def _allowed(self, token: int) -> bool:
        one = self._one[0]
        one.id, one.logit, one.p = token, 0.0, 0.0
        self._one_array.size, self._one_array.selected = 1, -1
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(self._one_array))
        return not math.isinf(self._one[0].logit)

    def _sample_masked(self, context: Any, output_index: int) -> int:
        lib = self._lib
        if self._candidates is None:
            self._candidates = (lib.llama_token_data * self._n_vocab)()
            self._table = np.frombuffer(self._candidates, dtype=_TOKEN_DATA)
        pointer = lib.llama_get_logits_ith(context, output_index)
        logits = np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self._n_vocab,)
        )
        self._table["id"] = np.arange(self._n_vocab, dtype=np.int32)
        self._table["logit"] = logits
        self._table["p"] = 0.0
        array = lib.llama_token_data_array(self._candidates, self._n_vocab, -1, False)
        lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        lib.llama_sampler_apply(self._chain, ctypes.byref(array))  # greedy or dist picks ``selected``
        token: int = self._candidates[array.selected].id
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
