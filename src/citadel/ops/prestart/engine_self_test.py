"""``citadel check``'s engine self-test: the model service's own self-test, run in a child process.

The child (``python -m citadel.model_service.self_test --config PATH NAME``) loads the model and decodes a
real batch on this machine, prints one line and exits 0 (pass) or
:data:`~citadel.exit_codes.EXIT_SELF_TEST_FAILED`; a negative return code means a signal killed it. A
crash in llama.cpp's CPU kernels then becomes one FAIL line here instead of killing ``citadel check``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from citadel.cpu_features import describe_cpu_features
from citadel.engines.local import LocalService
from citadel.exit_codes import EXIT_SELF_TEST_FAILED
from citadel.ops.prestart.checks import CheckResult
from citadel.supervisor.exits import describe_exit

SELF_TEST_MODULE = "citadel.model_service.self_test"
SELF_TESTED_BACKENDS = frozenset({"llamacpp"})
_ADVICE = "keep models[].extra_buffer_types off, or try models[].threads: 1"


def self_test_argv(config_path: Path, name: str) -> list[str]:
    return [sys.executable, "-m", SELF_TEST_MODULE, "--config", str(config_path), name]


def run_engine_self_test(
    config_path: Path, service: LocalService, timeout_s: float, *, argv: list[str] | None = None
) -> CheckResult:
    """One PASS/FAIL result for ``service``'s engine self-test, bounded by ``timeout_s``; ``argv`` runs
    another command under the same contract instead."""
    name = service.name
    try:
        child = subprocess.run(
            argv or self_test_argv(config_path, name),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CheckResult(name, "self-test", False, f"no result within {timeout_s:.0f} s")
    lines = child.stdout.strip().splitlines()
    line = lines[-1] if lines else ""
    if child.returncode == 0:
        return CheckResult(name, "self-test", True, line.removeprefix("PASS:").strip() or "passed")
    if child.returncode < 0:
        detail = (
            f"the engine was {describe_exit(child.returncode)} while decoding, on {describe_cpu_features()}; "
            f"try: {_ADVICE}"
        )
        return CheckResult(name, "self-test", False, detail)
    if child.returncode == EXIT_SELF_TEST_FAILED and line:
        return CheckResult(name, "self-test", False, line.removeprefix("FAIL:").strip())
    errors = child.stderr.strip().splitlines()[-1:] or lines[-1:] or ["no output"]
    return CheckResult(name, "self-test", False, f"{describe_exit(child.returncode)}: {errors[0]}")


def self_tested(services: list[LocalService]) -> list[LocalService]:
    """The services among ``services`` whose engine has a self-test (one per model is enough)."""
    seen: set[str] = set()
    chosen = []
    for service in services:
        if service.model.backend in SELF_TESTED_BACKENDS and service.model.name not in seen:
            seen.add(service.model.name)
            chosen.append(service)
    return chosen
