"""Prometheus multiprocess mode for several uvicorn workers: one shared directory of metric files.

prometheus_client picks its value store when a metric is created, from ``PROMETHEUS_MULTIPROC_DIR``; so the
variable is set in the parent process, before uvicorn spawns the workers, and each worker's app reads it
back (:func:`multiprocess_dir`) to serve ``/metrics`` summed over all of them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_dir() -> Iterator[Path]:
    """A fresh directory for the workers' metric files, named in the environment and removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="citadel-gateway-metrics-"))
    previous = os.environ.get(MULTIPROC_ENV_VAR)
    os.environ[MULTIPROC_ENV_VAR] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV_VAR, None)
        else:
            os.environ[MULTIPROC_ENV_VAR] = previous
        shutil.rmtree(path, ignore_errors=True)


def multiprocess_dir() -> Path | None:
    """The shared directory if this process is one of several workers, else None."""
    value = os.environ.get(MULTIPROC_ENV_VAR)
    return Path(value) if value else None


def retire_worker(directory: Path | None) -> None:
    """Drop this worker's live gauges (requests in flight, outstanding) from the shared files as it exits."""
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), str(directory))  # type: ignore[no-untyped-call]
