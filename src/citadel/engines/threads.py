"""How many threads an engine may run on a machine shared by services.

How idle OpenMP threads wait is left to OpenMP's default (spin briefly, then sleep) unless ``citadel up``
oversubscribes the cores (see :func:`citadel.supervisor.plan.thread_env`): within a budget, spinning at
each barrier is what keeps a decode step fast.
"""

from __future__ import annotations

import os


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask (taskset, cpuset), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def engine_threads(configured: int | None) -> int:
    """``model.threads`` when set (``citadel up`` passes each service its share), else every allowed CPU."""
    return configured or available_cpus()
