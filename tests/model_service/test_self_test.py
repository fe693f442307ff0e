"""The engine's self-test: it passes on the real SmolLM2, leaves no KV state behind, and a fault (NaN
logits, a crash) is reported in one line, in-process, by the service (exit 3) and by the command."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings, EngineLimits
from citadel.engines.service_control import ReportedFailure, ServiceControl
from citadel.exit_codes import EXIT_SELF_TEST_FAILED
from citadel.model_service import self_test
from citadel.model_service.app import create_model_service_app
from citadel.model_service.batch_engine import BatchEngine
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.scheduler import Scheduler
from citadel.model_service.self_test import SelfTestFailed, run_self_test
from citadel.model_source import resolve_model_source
from tests.helpers import SMOLLM2_NAME, SMOLLM2_SOURCE, free_port, smollm2_model, write_config

LAUNCHER = Path(__file__).with_name("faulty_engine.py")
LIMITS = EngineLimits(max_model_len=512, max_num_seqs=4, max_num_batched_tokens=64)


@pytest.fixture(scope="module")
def model() -> Iterator[GgufModel]:
    loaded = GgufModel(resolve_model_source(SMOLLM2_SOURCE))
    yield loaded
    loaded.close()


@pytest.fixture
def scheduler(model: GgufModel) -> Iterator[Scheduler]:
    built = Scheduler(model, LIMITS, 2, ModelServiceMetrics(CollectorRegistry(), SMOLLM2_NAME))
    yield built
    built.stop()


def _nan_logits(self: BatchEngine, row: int) -> Any:  # test double: a kernel that computes nonsense
    return np.full(self.n_vocab, np.nan, dtype=np.float32)


def test_passes_on_smollm2_and_frees_its_kv_cells(model: GgufModel, scheduler: Scheduler) -> None:
    report = run_self_test(model, scheduler.engine, extra_buffer_types=False)
    assert report.prompt_tokens >= 64
    assert report.sequences == 4
    assert report.line.startswith("PASS: decoded a 64-token prompt and 4 sequences")
    assert report.line.endswith(f"on {model.kernels.variant} (chosen at run time) kernels")
    memory = model.lib.llama_get_memory(scheduler.engine.context)
    assert [model.lib.llama_memory_seq_pos_max(memory, slot) for slot in range(4)] == [-1, -1, -1, -1]


def test_nan_logits_fail_in_one_line_naming_the_cpu_and_what_to_try(
    model: GgufModel, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BatchEngine, "logits", _nan_logits)
    with pytest.raises(SelfTestFailed) as failed:
        run_self_test(model, scheduler.engine, extra_buffer_types=True)
    line = failed.value.line
    assert "\n" not in line
    assert line.startswith("FAIL: engine self-test:")
    assert "NaN or infinite" in line
    assert "prefill" in line
    assert "CPU features:" in line
    assert "extra buffer types on" in line
    assert "model.extra_buffer_types off" in line
    assert "model.threads" in line


def test_cpu_features_lists_the_flags_that_pick_kernels(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f avx512_bf16 amx_tile avx_vnni\n")
    assert self_test.cpu_features(cpuinfo) == ["amx_tile", "avx512_bf16", "avx512f", "avx_vnni"]


async def test_service_lifespan_refuses_to_start_and_sets_exit_code_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(BatchEngine, "logits", _nan_logits)
    settings = CitadelSettings(models=[smollm2_model(free_port())], data_dir=str(tmp_path))
    control = ServiceControl()
    app = create_model_service_app(settings, SMOLLM2_NAME, control=control)
    with caplog.at_level(logging.ERROR), pytest.raises(ReportedFailure):
        async with app.router.lifespan_context(app):
            pytest.fail("the service started although its self-test failed")
    assert control.exit_code == EXIT_SELF_TEST_FAILED
    failures = [
        record.getMessage() for record in caplog.records if "FAIL: engine self-test" in record.message
    ]
    assert len(failures) == 1
    assert "NaN" in failures[0]


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path, {"gateway": {"port": free_port()}, "models": [smollm2_model(free_port())]})


def test_command_prints_one_pass_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "citadel.model_service.self_test", "--config", str(_config(tmp_path))]
    result = subprocess.run(
        [*command, SMOLLM2_NAME], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("PASS: decoded a 64-token prompt and 4 sequences")


def test_command_reports_a_crash_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Test double for a kernel that segfaults: the "python" the command starts its child with kills itself.
    crashing = tmp_path / "python"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crashing))
    code = self_test.main(["--config", str(_config(tmp_path)), SMOLLM2_NAME])
    assert code == EXIT_SELF_TEST_FAILED
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1
    assert printed[0].startswith("FAIL: engine self-test: the engine crashed with SIGSEGV")
    assert printed[0] == self_test.crash_line(-signal.SIGSEGV, extra_buffer_types=False)


def test_service_with_nan_logits_exits_3_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "nan-logits", "serve-model", SMOLLM2_NAME, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == EXIT_SELF_TEST_FAILED, output
    assert output.count("FAIL: engine self-test") == 1, output
    assert "Traceback" not in output, output
