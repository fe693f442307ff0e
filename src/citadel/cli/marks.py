"""The ✓/✗ lines of the operator commands (coloured on a terminal; click strips colour for pipes and cron)."""

from __future__ import annotations

import click

from citadel.ops.diagnostics.probes import ProbeResult


def mark(ok: bool) -> str:
    return click.style("✓", fg="green") if ok else click.style("✗", fg="red")


def result_line(result: ProbeResult) -> str:
    timing = f" ({result.elapsed_ms:.0f} ms)" if result.elapsed_ms else ""
    return f"{mark(result.ok)} {result.subject}: {result.detail}{timing}"
