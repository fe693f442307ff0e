"""The engine's self-test: decode a real batch on this machine before the service calls itself healthy.

llama.cpp picks CPU-specific kernels at run time (AMX tiles, AVX-512 variants, repacked weight layouts), and
a bad one crashes or yields nonsense only once a real batch runs: on Intel Sapphire Rapids its AMX path
decoded 1-2 token prompts and crashed on 6. So, before the port opens, the service decodes a prompt of
:data:`PROMPT_TOKENS` tokens beside a few shorter sequences, then a few steps of all of them at once, on the
same :class:`~citadel.model_service.batch_engine.BatchEngine` it will serve with. Every logit must be
finite and every sampled token a valid id; the KV cells used are freed afterwards.

``citadel check`` runs it as a command that prints one line and exits 0 or
:data:`~citadel.exit_codes.EXIT_SELF_TEST_FAILED`::

    python -m citadel.model_service.self_test --config config/citadel.yaml smollm2-135m-instruct

The check itself runs in a child process, so that a crash (SIGSEGV in a kernel) is reported in that one line
too instead of killing the command.
"""

from __future__ import annotations

import argparse
import functools
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citadel.config import LlamaCppModel, as_backend
from citadel.exit_codes import EXIT_SELF_TEST_FAILED
from citadel.model_service.batch_engine import DECODE_OK, BatchEngine, BatchRow
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.sampler import Sampler
from citadel.model_service.sampling import SamplingParams

PROMPT_TOKENS = 64
SEQUENCES = 4
DECODE_STEPS = 4
_SHORT_PROMPT_TOKENS = 8
_TEXT = (
    "The lighthouse keeper climbed the spiral stairs each evening, counted the ships that passed, wrote the "
    "weather in a leather book and trimmed the wick before the light went out over the grey northern sea. "
)
# The CPU features that decide which of llama.cpp's kernels run; the ones worth naming in a failure.
_FEATURE_PREFIXES = ("avx512", "amx", "avx_vnni")
_ADVICE = (
    "try: keep model.extra_buffer_types off, set model.threads to 1, or build llama-cpp-python for this "
    "CPU (scripts/bootstrap.sh)"
)


class SelfTestFailed(Exception):
    """The engine decoded nonsense (or could not decode) on this machine; ``line`` says so for a person."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True, slots=True)
class SelfTestReport:
    prompt_tokens: int
    sequences: int
    steps: int
    elapsed_ms: float
    kernels: str  # which of llama.cpp's CPU kernels ran it, e.g. "zen4 (chosen at run time)"

    @property
    def line(self) -> str:
        return (
            f"PASS: decoded a {self.prompt_tokens}-token prompt and {self.sequences} sequences × "  # noqa: RUF001 (as the contract reads)
            f"{self.steps} steps in {self.elapsed_ms:.0f} ms on {self.kernels} kernels"
        )


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """This CPU's flags among those that choose llama.cpp's kernels (AVX-512, AMX, AVX-VNNI)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = line.partition(":")[2].split()
            return sorted(flag for flag in flags if flag.startswith(_FEATURE_PREFIXES))
    return []


def failure_line(what: str, *, extra_buffer_types: bool) -> str:
    """The one line a person reads when the self-test fails: what, on which CPU, what to try."""
    features = " ".join(cpu_features()) or "none of avx512*/amx*/avx_vnni"
    bufts = "on" if extra_buffer_types else "off"
    return (
        f"FAIL: engine self-test: {what} (CPU features: {features}; llama.cpp extra buffer types {bufts}); "
        f"{_ADVICE}"
    )


def crash_line(returncode: int, *, extra_buffer_types: bool) -> str:
    """The failure line for a self-test process that ended with ``returncode`` (negative: a signal)."""
    if returncode < 0:
        what = f"the engine crashed with {signal.Signals(-returncode).name} while decoding a batch"
    else:
        what = f"the self-test process exited with code {returncode} without a result"
    return failure_line(what, extra_buffer_types=extra_buffer_types)


def run_self_test(model: GgufModel, engine: BatchEngine, *, extra_buffer_types: bool) -> SelfTestReport:
    """Decode a long prompt and several sequences at once on ``engine``; raise :class:`SelfTestFailed`.

    Uses slots ``0 .. SEQUENCES-1`` (fewer if the engine has fewer) and frees them again.
    """
    started = time.perf_counter()
    sequences = max(1, min(SEQUENCES, engine.n_slots))
    steps = DECODE_STEPS
    prompt_length = max(2, min(PROMPT_TOKENS, engine.stream_cells - steps - 1))
    prompts = _prompts(model, sequences, prompt_length)
    samplers = [
        Sampler(model.lib, model.n_vocab, SamplingParams(max_tokens=steps, temperature=0)) for _ in prompts
    ]
    try:
        tokens = _prefill(engine, prompts, samplers, extra_buffer_types)
        for step in range(steps):
            rows = [
                BatchRow(tokens[slot], len(prompts[slot]) + step, slot, True) for slot in range(sequences)
            ]
            tokens = _decode_and_sample(
                engine, rows, samplers, f"decode step {step + 1} of {sequences} sequences", extra_buffer_types
            )
    finally:
        for slot, sampler in enumerate(samplers):
            sampler.close()
            engine.forget(slot)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    kernels = f"{model.kernels.variant} ({'chosen at run time' if model.kernels.portable else 'native'})"
    return SelfTestReport(len(prompts[0]), sequences, steps, elapsed_ms, kernels)


def _prompts(model: GgufModel, sequences: int, prompt_length: int) -> list[list[int]]:
    text_tokens = model.tokenize(_TEXT * 8)
    while len(text_tokens) < prompt_length + sequences:
        text_tokens += text_tokens
    long_prompt = text_tokens[:prompt_length]
    # The others differ (each starts further into the text) and are short, so the batch mixes lengths.
    short = min(_SHORT_PROMPT_TOKENS, prompt_length)
    return [long_prompt] + [text_tokens[index : index + short] for index in range(1, sequences)]


def _prefill(
    engine: BatchEngine, prompts: list[list[int]], samplers: list[Sampler], extra_buffer_types: bool
) -> list[int]:
    """Every prompt's tokens, in batches of at most ``max_batch_tokens`` rows; the first sampled tokens."""
    rows = [
        BatchRow(token, position, slot, position == len(prompt) - 1)
        for slot, prompt in enumerate(prompts)
        for position, token in enumerate(prompt)
    ]
    first: dict[int, int] = {}
    for start in range(0, len(rows), engine.max_batch_tokens):
        chunk = rows[start : start + engine.max_batch_tokens]
        slots = [row.slot for row in chunk if row.wants_logits]
        sampled = _decode_and_sample(
            engine,
            chunk,
            [samplers[slot] for slot in slots],
            f"prefill of {len(chunk)} tokens over {len({row.slot for row in chunk})} sequences",
            extra_buffer_types,
        )
        first.update(zip(slots, sampled, strict=True))
    return [first[slot] for slot in range(len(prompts))]


def _decode_and_sample(
    engine: BatchEngine, rows: list[BatchRow], samplers: list[Sampler], what: str, extra_buffer_types: bool
) -> list[int]:
    """Decode ``rows``; check and sample each row that wants logits, in order, with its sampler."""
    code = engine.decode(rows)
    if code != DECODE_OK:
        raise SelfTestFailed(
            failure_line(f"llama_decode returned {code} in the {what}", extra_buffer_types=extra_buffer_types)
        )
    output_rows = [index for index, row in enumerate(rows) if row.wants_logits]
    tokens: list[int] = []
    for index, sampler in zip(output_rows, samplers, strict=True):
        logits = engine.logits(index)
        bad = int(np.count_nonzero(~np.isfinite(logits)))
        if bad:
            raise SelfTestFailed(
                failure_line(
                    f"{bad} of {logits.size} logits are NaN or infinite in the {what}",
                    extra_buffer_types=extra_buffer_types,
                )
            )
        token = sampler.sample(engine.context, index)
        if not 0 <= token < engine.n_vocab:
            raise SelfTestFailed(
                failure_line(
                    f"sampling gave token id {token} (vocabulary: {engine.n_vocab}) in the {what}",
                    extra_buffer_types=extra_buffer_types,
                )
            )
        tokens.append(token)
    return tokens


# --- the command ``citadel check`` runs ----------------------------------------------------------------


def _service(config: Path, name: str) -> LlamaCppModel:
    from citadel.config import load_settings
    from citadel.engines.local import find_service

    return as_backend(find_service(load_settings(config), name).settings, LlamaCppModel)


def _check_in_this_process(model: LlamaCppModel) -> int:
    from prometheus_client import CollectorRegistry

    from citadel.model_service.metrics import ModelServiceMetrics
    from citadel.model_service.scheduler import Scheduler
    from citadel.model_source import resolve_model_source

    gguf = GgufModel(resolve_model_source(model.source), extra_buffer_types=model.extra_buffer_types)
    # The scheduler builds its engine exactly as the service does (slots, batch size, threads).
    metrics = ModelServiceMetrics(CollectorRegistry(), model.name)
    scheduler = Scheduler(gguf, model.limits, model.threads, metrics)
    self_test = functools.partial(run_self_test, gguf, extra_buffer_types=model.extra_buffer_types)
    try:
        report = scheduler.start(first=self_test).result()
        assert isinstance(report, SelfTestReport)
    except SelfTestFailed as failure:
        print(failure.line, flush=True)
        return EXIT_SELF_TEST_FAILED
    finally:
        scheduler.stop()
        gguf.close()
    print(report.line, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the self-test of one model service; print one PASS/FAIL line; 0, or EXIT_SELF_TEST_FAILED."""
    from citadel.config import ConfigError

    parser = argparse.ArgumentParser(
        prog="python -m citadel.model_service.self_test",
        description="Load a model service's model and decode a real batch with it; one PASS/FAIL line.",
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("name", help="the model service: MODEL or MODEL:PORT")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    try:
        model = _service(args.config, args.name)
    except (ConfigError, KeyError, TypeError) as exc:
        print(f"FAIL: engine self-test: {exc.args[0] if isinstance(exc, KeyError) else exc}", flush=True)
        return 2
    if args.in_process:
        return _check_in_this_process(model)
    # The child's log is not shown: a person needs the one line (and a crash leaves no other).
    child = subprocess.run(
        [sys.executable, "-m", "citadel.model_service.self_test", "--in-process",
         "--config", str(args.config), args.name],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    lines = [line for line in child.stdout.splitlines() if line.startswith(("PASS:", "FAIL:"))]
    if child.returncode in (0, EXIT_SELF_TEST_FAILED) and lines:
        print(lines[-1], flush=True)
        return child.returncode
    line = crash_line(child.returncode, extra_buffer_types=model.extra_buffer_types)
    last_error = child.stderr.strip().splitlines()[-1:] if child.returncode > 0 else []
    print(f"{line} [{last_error[0]}]" if last_error else line, flush=True)
    return EXIT_SELF_TEST_FAILED


if __name__ == "__main__":
    sys.exit(main())
