"""``vllm``: vLLM's OpenAI server, launched with the blueprint's flags (seed D.1.2, step 4.1)."""

from __future__ import annotations

import os
import sys

from citadel.config import CitadelSettings, ModelSettings, VllmModel, as_backend


def vllm_command(model: VllmModel) -> list[str]:
    """The command line that serves ``model`` with vLLM."""
    limits = model.limits
    argv = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model.source,
        "--host", model.host,
        "--port", str(model.port),
        "--served-model-name", model.name,
        "--max-model-len", str(limits.max_model_len),
        "--max-num-batched-tokens", str(limits.max_num_batched_tokens),
        "--max-num-seqs", str(limits.max_num_seqs),
        "--tensor-parallel-size", str(limits.tensor_parallel_size),
        "--pipeline-parallel-size", str(limits.pipeline_parallel_size),
    ]  # fmt: skip
    if limits.enable_chunked_prefill:
        argv.append("--enable-chunked-prefill")
    argv.append("--enable-prefix-caching" if limits.enable_prefix_caching else "--no-enable-prefix-caching")
    # The blueprint also passes --disable-log-stats; it is left out on purpose: it turns off the engine
    # statistics behind vLLM's Prometheus metrics, which Citadel's dashboards and alerts read.
    return argv


class VllmEngine:
    name = "vllm"
    runs_locally = True
    weights_required = True

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        argv = vllm_command(as_backend(model, VllmModel))
        # CPU-only hosts (seed B.1: gpu_support false) hide any GPU from vLLM, as the seed's unit does.
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        # Replace this process, so that signals from the supervisor or systemd reach vLLM itself.
        os.execve(argv[0], argv, env)
