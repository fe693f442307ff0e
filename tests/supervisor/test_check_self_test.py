"""``citadel check`` runs the engine self-test of each built-in-engine model in a child process: a pass, a
model that cannot decode, a crash by a signal and a hung child each give one line."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from citadel.cli.main import cli
from citadel.config import load_settings
from citadel.engines.local import find_service
from citadel.ops.prestart.engine_self_test import run_engine_self_test
from tests.helpers import SMOLLM2_NAME, free_port, minilm_model, smollm2_model, write_config


def _lines(output: str, check: str) -> list[str]:
    return [line for line in output.splitlines() if f" {check} " in line]


def test_check_runs_the_self_test_of_each_llamacpp_model(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.gguf"
    garbage.write_bytes(b"GGUF" + b"\0" * 4096)  # present (the files check passes), but no model
    models = [
        smollm2_model(free_port()),
        smollm2_model(free_port(), name="broken", source=str(garbage)),
        smollm2_model(free_port(), name="absent", source=str(tmp_path / "absent.gguf")),
        minilm_model(free_port()),
    ]
    config = write_config(tmp_path, {"gateway": {"port": free_port()}, "models": models})
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 1
    lines = _lines(result.output, "self-test")
    assert len(lines) == 2, result.output  # not for the missing file, not for the embedding model
    [good] = [line for line in lines if SMOLLM2_NAME in line]
    assert good.startswith("PASS")
    assert "64-token prompt" in good
    [bad] = [line for line in lines if "broken" in line]
    assert bad.startswith("FAIL")
    assert "CPU features" in bad

    alone = CliRunner().invoke(cli, ["check", SMOLLM2_NAME, "--config", str(config)])
    assert alone.exit_code == 0, alone.output
    assert len(_lines(alone.output, "self-test")) == 1
    skipped = CliRunner().invoke(cli, ["check", SMOLLM2_NAME, "--config", str(config), "--skip-self-test"])
    assert skipped.exit_code == 0
    assert not _lines(skipped.output, "self-test")


def test_a_crash_or_a_hang_is_one_fail_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models": [smollm2_model(free_port())]})
    service = find_service(load_settings(config), SMOLLM2_NAME)
    segfault = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    crashed = run_engine_self_test(config, service, 30, argv=segfault)
    assert not crashed.ok
    assert "killed by SIGSEGV while decoding" in crashed.detail
    assert "CPU features" in crashed.detail or "CPU without" in crashed.detail
    assert "extra_buffer_types" in crashed.detail  # what to try
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    hung = run_engine_self_test(config, service, 0.5, argv=sleeper)
    assert not hung.ok
    assert "no result within" in hung.detail
