"""A self-contained HTML page of SVG line charts: latency and throughput against concurrency, per model and
scenario (no plotting library, no scripts, opens anywhere)."""

from __future__ import annotations

import html
import math

from citadel.ops.bench.report import LevelStats, TargetCheck

_WIDTH, _HEIGHT, _MARGIN = 420, 220, 40
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _chart(title: str, levels: list[int], series: dict[str, list[float]], unit: str) -> str:
    finite = [value for values in series.values() for value in values if math.isfinite(value)]
    top = max(finite, default=1.0) * 1.1 or 1.0
    plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN
    bottom = _HEIGHT - _MARGIN

    def x(index: int) -> float:
        return _MARGIN + (plot_w * index / max(1, len(levels) - 1))

    def y(value: float) -> float:
        return _MARGIN + plot_h * (1 - (value if math.isfinite(value) else 0) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" role="img">',
        f'<text x="{_MARGIN}" y="20" font-size="13">{html.escape(title)} ({unit})</text>',
        f'<line x1="{_MARGIN}" y1="{bottom}" x2="{_WIDTH - _MARGIN}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{_MARGIN}" y1="{_MARGIN}" x2="{_MARGIN}" y2="{_HEIGHT - _MARGIN}" stroke="#444"/>',
        f'<text x="2" y="{_MARGIN + 4}" font-size="10">{top:.0f}</text>',
    ]
    parts += [
        f'<text x="{x(i) - 4:.0f}" y="{_HEIGHT - _MARGIN + 14}" font-size="10">{level}</text>'
        for i, level in enumerate(levels)
    ]
    for index, (colour, (name, values)) in enumerate(zip(_COLOURS, series.items(), strict=False)):
        points = " ".join(f"{x(i):.1f},{y(value):.1f}" for i, value in enumerate(values))
        label = html.escape(name)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">')
        parts.append(f"<title>{label}</title></polyline>")
        legend = f'x="{_WIDTH - _MARGIN - 90}" y="{_MARGIN + 12 * index}" font-size="10" fill="{colour}"'
        parts.append(f"<text {legend}>{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def chart_html(stats: list[LevelStats], checks: list[TargetCheck]) -> str:
    """The page: one row per model and scenario (latency chart, throughput chart), then the target checks."""
    sections = []
    for model, scenario in dict.fromkeys((row.model, row.scenario) for row in stats):
        rows = sorted(
            (row for row in stats if row.model == model and row.scenario == scenario), key=lambda r: r.level
        )
        levels = [row.level for row in rows]
        latency = {"p50": [row.p50_ms for row in rows], "p95": [row.p95_ms for row in rows]}
        latency["ttft p95"] = [row.ttft_p95_ms if row.ttft_p95_ms is not None else math.nan for row in rows]
        throughput = {
            "requests/s": [row.requests_per_s for row in rows],
            "tokens/s": [row.tokens_per_s for row in rows],
        }
        sections.append(
            f"<h2>{html.escape(model)} — {html.escape(scenario)}</h2>"
            + _chart("latency by concurrency", levels, latency, "ms")
            + _chart("throughput by concurrency", levels, throughput, "per s")
        )
    verdicts = "".join(
        f"<li>{'✓' if check.ok else '✗'} {html.escape(check.model)} {html.escape(check.check)}: "
        f"{html.escape(check.detail)}</li>"
        for check in checks
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Citadel benchmark</title></head>'
        f'<body style="font-family: sans-serif"><h1>Citadel benchmark</h1>{"".join(sections)}'
        f"<h2>Targets</h2><ul>{verdicts}</ul></body></html>\n"
    )
