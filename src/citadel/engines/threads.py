"""How many threads an engine may run, and how its idle threads wait, on a machine shared by services."""

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


def passive_openmp_waits() -> None:
    """Let OpenMP threads sleep, not spin, while they wait (unless ``OMP_WAIT_POLICY`` is set already).

    llama.cpp (as built here) and torch both run their threads with OpenMP, whose default waits spin at
    every barrier. On a machine shared by several services and the gateway, a spinning thread burns the
    core its team mate needs to reach that barrier. The self-test (2 threads, 2 cores) took 1.5-5.7 s spinning
    and 1.0 s passive under a load of 4 from other processes, and 0.32-0.35 s spinning against 0.38-0.49 s
    passive on an idle machine: passive costs a little alone and saves a lot when shared, and a Citadel
    machine always shares its cores with at least the gateway. ``OMP_WAIT_POLICY=ACTIVE`` in the service's
    environment chooses spinning. OpenMP reads the variable once, when its library loads, so this must run
    before llama_cpp or torch is imported.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
