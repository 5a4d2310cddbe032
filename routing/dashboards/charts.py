"""Server-rendered SVG charts: readable without JavaScript, no CDN (CSP allows neither anyway)."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2f6fed", "#c0392b", "#1e8449", "#b9770e", "#8e44ad", "#16a085")


def share_bars(rows: Sequence, *, limit: int = 40) -> SafeString:
    """Horizontal bars per rep: actual share (bar), eligibility-adjusted share (tick), target (dot).

    ``rows`` are EquityRow-like (name, actual_share, expected_share, target_share, drift).
    """
    rows = list(rows)[:limit]
    label_w, bar_w, row_h, top = 170, 420, 22, 28
    width, height = label_w + bar_w + 70, top + row_h * max(len(rows), 1) + 10
    peak = max([0.01] + [max(r.actual_share, r.expected_share, r.target_share) for r in rows])
    scale = bar_w / peak
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart share-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Share of leads against target per rep">',
        "<title>Share of leads against target per rep</title>",
        f'<text x="{label_w}" y="14" font-size="11" fill="#667085">bar = actual share · '
        "black tick = eligibility-adjusted share · circle = target weight share</text>",
    ]
    if not rows:
        out.append(f'<text x="{label_w}" y="{top + 14}" font-size="12" fill="#667085">No leads in this window</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        colour = "#c0392b" if r.drift else "#2f6fed"
        klass = "bar drift" if r.drift else "bar"
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end">{escape(r.name)}</text>')
        out.append(
            f'<rect class="{klass}" data-rep="{r.rep_id}" x="{label_w}" y="{y + 3}" width="{r.actual_share * scale:.1f}" '
            f'height="{row_h - 8}" fill="{colour}"><title>{escape(r.name)}: {100 * r.actual_share:.1f}% actual, '
            f"{100 * r.expected_share:.1f}% expected, {100 * r.target_share:.1f}% target</title></rect>"
        )
        ex = label_w + r.expected_share * scale
        out.append(f'<line x1="{ex:.1f}" x2="{ex:.1f}" y1="{y + 1}" y2="{y + row_h - 3}" stroke="#000" stroke-width="2"/>')
        tx = label_w + r.target_share * scale
        out.append(f'<circle cx="{tx:.1f}" cy="{y + row_h / 2 - 1:.1f}" r="3.5" fill="none" stroke="#1d2330"/>')
        out.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 14}" font-size="11" fill="#667085">{100 * r.actual_share:.1f}%</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above


def deviation_lines(series: dict[str, list[tuple[dt.date, float]]]) -> SafeString:
    """One line per rep: leads received minus expected, per day; the zero line is fairness."""
    width, height, left, right, top, bottom = 720, 240, 48, 150, 16, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [v for values in series.values() for _, v in values]
    days = next(iter(series.values()), [])
    lo, hi = min(points + [-1.0]), max(points + [1.0])
    span = hi - lo or 1.0

    def x(i: int) -> float:
        return left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart deviation-chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="Deviation from expected leads per day">',
        "<title>Leads received minus eligibility-adjusted expectation, per day</title>",
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#98a2b3" stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{y(hi) + 4:.1f}" font-size="10" text-anchor="end">{hi:+.1f}</text>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{left - 6}" y="{y(lo) + 4:.1f}" font-size="10" text-anchor="end">{lo:+.1f}</text>',
    ]
    if days:
        out.append(f'<text x="{left}" y="{height - 8}" font-size="10">{days[0][0].isoformat()}</text>')
        out.append(f'<text x="{left + plot_w}" y="{height - 8}" font-size="10" text-anchor="end">{days[-1][0].isoformat()}</text>')
    else:
        out.append(f'<text x="{left + 10}" y="{top + 20}" font-size="12" fill="#667085">No data</text>')
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(values))
        if len(values) == 1:
            out.append(f'<circle cx="{x(0):.1f}" cy="{y(values[0][1]):.1f}" r="3" fill="{colour}"/>')
        else:
            out.append(f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        ly = top + 14 * n + 8
        out.append(f'<rect x="{left + plot_w + 12}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{left + plot_w + 26}" y="{ly + 1}" font-size="11">{escape(name)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308


def projected_bars(rows: Sequence[tuple[str, float, float]]) -> SafeString:
    """Replay: actual share (grey) against projected share (blue) per rep."""
    rows = list(rows)[:40]
    label_w, bar_w, row_h = 170, 400, 24
    height = 24 + row_h * max(len(rows), 1)
    peak = max([0.01] + [max(a, p) for _, a, p in rows])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart replay-chart" role="img" width="{label_w + bar_w + 80}" '
        f'height="{height}" aria-label="Projected against actual share">',
        f'<text x="{label_w}" y="14" font-size="11" fill="#667085">grey = actual · blue = projected (draft rules)</text>',
    ]
    for i, (name, actual, projected) in enumerate(rows):
        yy = 22 + i * row_h
        out.append(f'<text x="{label_w - 6}" y="{yy + 13}" font-size="12" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect x="{label_w}" y="{yy}" width="{bar_w * actual / peak:.1f}" height="9" fill="#98a2b3"/>')
        out.append(f'<rect x="{label_w}" y="{yy + 10}" width="{bar_w * projected / peak:.1f}" height="9" fill="#2f6fed"/>')
        out.append(f'<text x="{label_w + bar_w + 6}" y="{yy + 13}" font-size="11">{100 * actual:.0f}% → {100 * projected:.0f}%</text>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308
