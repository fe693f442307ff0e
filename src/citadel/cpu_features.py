"""What this machine's CPU offers that matters to the engines' optional kernels, and the cores we may use.

llama.cpp picks kernels by CPU flag (AVX-512, AMX, AVX-VNNI); when one of those paths crashes, the flags
are what an operator needs to see next to the crash.

>>> interesting_flags("fpu avx2 avx512f amx_tile avx_vnni")
('amx_tile', 'avx512f', 'avx_vnni')
"""

from __future__ import annotations

import os
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")
_PREFIXES = ("avx512", "amx", "avx_vnni")


def interesting_flags(flags_line: str) -> tuple[str, ...]:
    """The flags of interest (``avx512*``, ``amx*``, ``avx_vnni``) in a ``flags`` line, sorted."""
    return tuple(sorted({flag for flag in flags_line.split() if flag.startswith(_PREFIXES)}))


def cpu_features(cpuinfo: Path = _CPUINFO) -> tuple[str, ...]:
    """The flags of interest of this machine's first CPU; empty where ``/proc/cpuinfo`` is missing."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return interesting_flags(value)
    return ()


def describe_cpu_features(features: tuple[str, ...] | None = None) -> str:
    """One phrase for a report line: ``"CPU features avx512f amx_tile"`` or ``"no AVX-512/AMX/AVX-VNNI"``."""
    chosen = cpu_features() if features is None else features
    return f"CPU features {' '.join(chosen)}" if chosen else "CPU without AVX-512/AMX/AVX-VNNI"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
