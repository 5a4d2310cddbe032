"""Server-rendered SVG charts: readable without JavaScript, no CDN (CSP allows neither anyway)."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2f6fed", "#c0392b", "#1e8449", "#b9770e", "#8e44ad", "#16a085")


def _pair(wide: str, narrow: str) -> SafeString:
    """Both renderings of a chart; the stylesheet shows the wide one on a screen wider than
    600 px and the narrow one (same data, laid out for a phone at its natural size) below."""
    return mark_safe(f'<div class="chart-pair"><div class="chart-wide">{wide}</div><div class="chart-narrow">{narrow}</div></div>')  # noqa: S308


def share_bars(rows: Sequence, *, limit: int = 40) -> SafeString:
    """Bars per rep: actual share (bar), eligibility-adjusted share (black tick), target (circle).

    ``rows`` are EquityRow-like (rep_id, name, actual_share, expected_share, target_share,
    drift). Each rep takes two lines: its name and its figures in words on the first, the bar
    and its marks on the second, so no mark can sit on a label. Rendered twice (``_pair``).
    """
    rows = list(rows)[:limit]
    return _pair(_share_svg(rows, width=640, klass="share-chart"), _share_svg(rows, width=340, klass="share-chart-phone"))


def _share_svg(rows: list, *, width: int, klass: str) -> str:
    pad, row_h, top = 4, 42, 34
    bar_w = width - 2 * pad
    height = top + row_h * max(len(rows), 1) + 4
    peak = max([0.01] + [max(r.actual_share, r.expected_share, r.target_share) for r in rows])
    scale = bar_w / peak
    wide = width > 400
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {klass}" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="Share of leads against target per rep">',
        "<title>Share of leads against target per rep</title>",
        f'<text x="{pad}" y="13" font-size="12" fill="#475467">bar = actual share · black tick = eligibility-adjusted</text>',
        f'<text x="{pad}" y="27" font-size="12" fill="#475467">share · circle = target (weight) share</text>',
    ]
    if not rows:
        out.append(f'<text x="{pad}" y="{top + 14}" font-size="13" fill="#475467">No leads in this window</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        colour = "#c0392b" if r.drift else "#2f6fed"
        klass_bar = "bar drift" if r.drift else "bar"
        figures = (f"{100 * r.actual_share:.1f}% (expected {100 * r.expected_share:.1f}%, target {100 * r.target_share:.1f}%)"
                   if wide else f"{100 * r.actual_share:.1f}% · target {100 * r.target_share:.0f}%")  # fmt: skip
        out.append(f'<text x="{pad}" y="{y + 13}" font-size="13">{escape(r.name)}</text>')
        out.append(f'<text x="{width - pad}" y="{y + 13}" font-size="12" fill="#475467" text-anchor="end">{figures}</text>')
        out.append(f'<rect x="{pad}" y="{y + 21}" width="{bar_w}" height="14" fill="#f2f4f7"/>')
        out.append(
            f'<rect class="{klass_bar}" data-rep="{r.rep_id}" x="{pad}" y="{y + 21}" width="{r.actual_share * scale:.1f}" '
            f'height="14" fill="{colour}"><title>{escape(r.name)}: {100 * r.actual_share:.1f}% actual, '
            f"{100 * r.expected_share:.1f}% expected, {100 * r.target_share:.1f}% target</title></rect>"
        )
        ex = pad + r.expected_share * scale
        out.append(f'<line class="expected" x1="{ex:.1f}" x2="{ex:.1f}" y1="{y + 19}" y2="{y + 37}" stroke="#000" stroke-width="2"/>')
        tx = pad + r.target_share * scale
        out.append(f'<circle class="target" cx="{tx:.1f}" cy="{y + 28}" r="4" fill="#fff" stroke="#1d2330" stroke-width="1.5"/>')
    out.append("</svg>")
    return "".join(out)  # every interpolated text is escaped above


def deviation_lines(series: dict[str, list[tuple[dt.date, float | None]]]) -> SafeString:
    """One line per rep: leads received minus expected, per day; the zero line is fairness.

    A day without a value (None: the rep had no row that day, the pool sent them nothing and
    expected nothing) is a gap, not a point at zero, so no flat line is drawn across empty days;
    a lone day is a dot. Rendered twice (``_pair``), the legend under the plot.
    """
    return _pair(_deviation_svg(series, width=720, klass="deviation-chart"),
                 _deviation_svg(series, width=340, klass="deviation-chart-phone"))  # fmt: skip


def _deviation_svg(series: dict[str, list[tuple[dt.date, float | None]]], *, width: int, klass: str) -> str:
    left, right, top, bottom, plot_h = 44, 10, 12, 26, 170
    plot_w = width - left - right
    legend_cols = 3 if width > 400 else 1
    legend_rows = -(-len(series) // legend_cols) if series else 0
    height = top + plot_h + bottom + 18 * legend_rows + 4
    points = [v for values in series.values() for _, v in values if v is not None]
    days = next(iter(series.values()), [])
    lo, hi = min(points + [-1.0]), max(points + [1.0])
    span = hi - lo or 1.0

    def x(i: int) -> float:
        return left + (plot_w * i / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {klass}" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="Deviation from expected leads per day">',
        "<title>Leads received minus eligibility-adjusted expectation, per day</title>",
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#98a2b3" stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{y(0) + 4:.1f}" font-size="12" text-anchor="end">0</text>',
    ]
    # The top and bottom values, unless they would sit on the "0" label.
    for value in (hi, lo):
        if abs(y(value) - y(0)) >= 14:
            out.append(f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="12" text-anchor="end">{value:+.1f}</text>')
    base = top + plot_h + 16
    if days:
        fmt = "%Y-%m-%d" if width > 400 else "%d %b"
        out.append(f'<text x="{left}" y="{base}" font-size="12">{days[0][0].strftime(fmt)}</text>')
        if len(days) > 1:
            out.append(f'<text x="{left + plot_w}" y="{base}" font-size="12" text-anchor="end">{days[-1][0].strftime(fmt)}</text>')
    else:
        out.append(f'<text x="{left + 10}" y="{top + 20}" font-size="13" fill="#475467">No data</text>')
    col_w = (width - 8) / legend_cols
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        for run in _runs(values):
            if len(run) == 1:
                i, v = run[0]
                out.append(f'<circle class="series-dot" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>')
            else:
                coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
                out.append(f'<polyline class="series" points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        lx, ly = 4 + col_w * (n % legend_cols), base + 18 + 18 * (n // legend_cols)
        out.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="{ly}" font-size="12">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _runs(values: Sequence[tuple[dt.date, float | None]]) -> list[list[tuple[int, float]]]:
    """Consecutive days with a value: [(index, value), ...] per run; None ends a run."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, (_day, value) in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((i, value))
    return [run for run in runs if run]


def projected_bars(rows: Sequence[tuple[str, float, float]]) -> SafeString:
    """Replay: actual share (grey) against projected share (blue) per rep, name and figures on
    their own line. Rendered twice (``_pair``)."""
    rows = list(rows)[:40]
    return _pair(_projected_svg(rows, width=600), _projected_svg(rows, width=340))


def _projected_svg(rows: list[tuple[str, float, float]], *, width: int) -> str:
    pad, row_h, top = 4, 42, 22
    bar_w = width - 2 * pad
    height = top + row_h * max(len(rows), 1)
    peak = max([0.01] + [max(a, p) for _, a, p in rows])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart replay-chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="Projected against actual share">',
        f'<text x="{pad}" y="14" font-size="12" fill="#475467">grey = actual · blue = projected (draft rules)</text>',
    ]
    for i, (name, actual, projected) in enumerate(rows):
        yy = top + i * row_h
        out.append(f'<text x="{pad}" y="{yy + 13}" font-size="13">{escape(name)}</text>')
        out.append(f'<text x="{width - pad}" y="{yy + 13}" font-size="12" text-anchor="end">'
                   f"{100 * actual:.0f}% → {100 * projected:.0f}%</text>")  # fmt: skip
        out.append(f'<rect x="{pad}" y="{yy + 18}" width="{bar_w * actual / peak:.1f}" height="9" fill="#98a2b3"/>')
        out.append(f'<rect x="{pad}" y="{yy + 28}" width="{bar_w * projected / peak:.1f}" height="9" fill="#2f6fed"/>')
    out.append("</svg>")
    return "".join(out)
