"""How the built-in engine loads SmolLM2: without llama.cpp's extra buffer types unless asked, and with the
configured number of threads."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from citadel.config import EngineLimits
from citadel.model_service.batch_engine import BatchEngine
from citadel.model_service.gguf_model import GgufModel
from citadel.model_source import resolve_model_source
from tests.helpers import SMOLLM2_SOURCE

LIMITS = EngineLimits(max_model_len=256, max_num_seqs=2, max_num_batched_tokens=64)


@pytest.fixture(scope="module")
def model() -> Iterator[GgufModel]:
    loaded = GgufModel(resolve_model_source(SMOLLM2_SOURCE))
    yield loaded
    loaded.close()


def test_weights_load_without_extra_buffer_types_by_default(model: GgufModel) -> None:
    assert model.load_params.use_extra_bufts is False


def test_extra_buffer_types_are_used_when_the_config_asks() -> None:
    opted_in = GgufModel(resolve_model_source(SMOLLM2_SOURCE), extra_buffer_types=True)
    try:
        assert opted_in.load_params.use_extra_bufts is True
        assert opted_in.tokenize("hello")  # and the model works
    finally:
        opted_in.close()


@pytest.mark.parametrize("threads", [1, 3])
def test_context_runs_the_configured_threads(model: GgufModel, threads: int) -> None:
    engine = BatchEngine(model, LIMITS, threads, n_slots=2)
    try:
        assert model.lib.llama_n_threads(engine.context) == threads
        assert model.lib.llama_n_threads_batch(engine.context) == threads
    finally:
        engine.close()


def test_default_threads_are_the_cpus_this_process_may_use(model: GgufModel) -> None:
    engine = BatchEngine(model, LIMITS, None, n_slots=2)
    try:
        assert model.lib.llama_n_threads(engine.context) == len(os.sched_getaffinity(0))
    finally:
        engine.close()
