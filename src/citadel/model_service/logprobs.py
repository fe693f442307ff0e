"""Log-probabilities of sampled tokens and their top alternatives, from the model's raw distribution.

As in vLLM, they describe the model's distribution before temperature, top-k or top-p, so a client sees how
sure the model was, whatever the sampling settings.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Candidate:
    text: bytes
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """The sampled token's log-probability and the ``top`` most likely tokens at that step."""

    token: Candidate
    top: tuple[Candidate, ...]


def token_logprob(
    lib: Any, context: Any, row: int, n_vocab: int, sampled: int, top_n: int, piece: Any
) -> TokenLogprob:
    """Read the logits of batch ``row`` and turn them into log-probabilities."""
    pointer = lib.llama_get_logits_ith(context, row)
    logits = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,))
    shifted = logits.astype(np.float64) - float(logits.max())
    logprobs = shifted - np.log(np.exp(shifted).sum())
    top: tuple[Candidate, ...] = ()
    if top_n > 0:
        best = np.argpartition(-logprobs, top_n)[:top_n]
        best = best[np.argsort(-logprobs[best])]
        top = tuple(Candidate(piece(int(token)), float(logprobs[token])) for token in best)
    return TokenLogprob(Candidate(piece(sampled), float(logprobs[sampled])), top)
