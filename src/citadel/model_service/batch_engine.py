"""One llama.cpp context decoding many sequences at once through the multi-sequence batch API.

Each sequence id has its own KV stream of ``max_model_len`` cells (``kv_unified`` off). Besides avoiding
attention over other sequences' cells, this keeps a sequence's cells laid out the same whether it runs
alone or beside others, so batching does not change greedy results (with one shared buffer, where a
sequence's cells land changes the floating-point summation order of attention, and near-ties flip).
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from citadel.config import EngineLimits
from citadel.engines.threads import engine_threads
from citadel.model_service.gguf_model import GgufModel

logger = logging.getLogger(__name__)

DECODE_OK = 0
DECODE_NO_KV_SPACE = 1


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One token of a batch: which sequence, at which position, and whether we need its logits."""

    token: int
    position: int
    slot: int
    wants_logits: bool


class BatchEngine:
    """The decoding context: ``n_slots`` sequence ids sharing ``capacity`` KV cells."""

    def __init__(self, model: GgufModel, limits: EngineLimits, threads: int | None, n_slots: int) -> None:
        lib = model.lib
        self._lib = lib
        self.n_vocab = model.n_vocab
        self.n_slots = n_slots
        self.stream_cells = limits.max_model_len
        self.max_batch_tokens = max(limits.max_num_batched_tokens, limits.max_num_seqs)
        params = lib.llama_context_default_params()
        params.n_ctx = limits.max_model_len * n_slots  # one stream of max_model_len cells per slot
        params.n_batch = self.max_batch_tokens
        params.n_ubatch = self.max_batch_tokens
        params.n_seq_max = n_slots
        params.kv_unified = False
        params.no_perf = True
        # The CPUs this process may run on (a cgroup or taskset may allow fewer than the machine has).
        self.threads = engine_threads(threads)
        params.n_threads = params.n_threads_batch = self.threads
        self.context_params: Any = params  # kept so that what the context was created with can be checked
        logger.info("llama.cpp context: %d threads, %d sequences", self.threads, n_slots)
        self.context: Any = lib.llama_init_from_model(model.pointer, params)
        if not self.context:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self.capacity: int = lib.llama_n_ctx(self.context)
        self._memory = lib.llama_get_memory(self.context)
        self._batch = lib.llama_batch_init(self.max_batch_tokens, 0, 1)

    def decode(self, rows: list[BatchRow]) -> int:
        """Run the model over ``rows``; :data:`DECODE_OK`, :data:`DECODE_NO_KV_SPACE` or an error code."""
        batch = self._batch
        for index, row in enumerate(rows):
            batch.token[index] = row.token
            batch.pos[index] = row.position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = row.slot
            batch.logits[index] = row.wants_logits
        batch.n_tokens = len(rows)
        code: int = self._lib.llama_decode(self.context, batch)
        return code

    def logits(self, row: int) -> npt.NDArray[np.float32]:
        """The logits llama.cpp computed for batch row ``row`` of the last decode (a view, not a copy)."""
        pointer = self._lib.llama_get_logits_ith(self.context, row)
        floats = ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float))
        return np.ctypeslib.as_array(floats, shape=(self.n_vocab,))

    def forget(self, slot: int, start: int = 0) -> None:
        """Free the cells of ``slot`` from position ``start`` on."""
        self._lib.llama_memory_seq_rm(self._memory, slot, start, -1)

    def share_prefix(self, source: int, target: int, length: int) -> None:
        """Give ``target`` the first ``length`` positions that ``source`` already computed.

        Across streams llama.cpp copies whole streams only; the copy's tail is dropped right after.
        """
        self._lib.llama_memory_seq_cp(self._memory, source, target, -1, -1)
        self._lib.llama_memory_seq_rm(self._memory, target, length, -1)

    def close(self) -> None:
        if self.context:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self.context)
            self.context = None
