"""How a service ended, said for people: which signal or code, and what to try next.

A service that a signal kills while it starts most likely crashed in the engine's CPU kernels (llama.cpp's
AMX path did so on Intel Sapphire Rapids), so that line names the CPU features that choose those kernels.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from citadel.exit_codes import EXIT_ENGINE_DIED, EXIT_SELF_TEST_FAILED


def describe_exit(code: int | None) -> str:
    """``"killed by SIGSEGV"`` for a negative return code (the signal), ``"exited with code 1"`` otherwise.

    >>> describe_exit(-11), describe_exit(1)
    ('killed by SIGSEGV', 'exited with code 1')
    """
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == EXIT_SELF_TEST_FAILED:
        return f"failed its engine self-test (exit code {code})"
    if code == EXIT_ENGINE_DIED:
        return f"lost its engine thread (exit code {code})"
    return f"exited with code {code}"


@dataclass(frozen=True, slots=True)
class Exit:
    """One end of a service: its return code (None: stopped by us after a start-up timeout) and when."""

    name: str
    code: int | None
    while_starting: bool
    features: str  # e.g. "CPU features avx512f amx_tile", see citadel.cpu_features.describe_cpu_features

    @property
    def crashed_by_signal(self) -> bool:
        return self.code is not None and self.code < 0

    @property
    def self_test_failed(self) -> bool:
        return self.code == EXIT_SELF_TEST_FAILED

    def what(self, timeout_s: float) -> str:
        """What happened, in a phrase."""
        if self.code is None:
            return f"did not become healthy within {timeout_s:.0f} s"
        how = describe_exit(self.code)
        if self.crashed_by_signal and self.while_starting:
            return f"{how} while starting, on {self.features}"
        return f"{how} while starting" if self.while_starting else how

    def hint(self) -> str:
        """What to try next."""
        if self.self_test_failed:
            return f"it would fail the same way again; `citadel check {self.name}` shows why"
        if self.crashed_by_signal and self.while_starting:
            return (
                f"run `citadel check {self.name}` (engine self-test); "
                "an engine crash here usually means a CPU-specific kernel"
            )
        return "see its log above"
