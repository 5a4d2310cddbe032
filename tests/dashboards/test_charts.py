"""The equity charts: gaps on empty days, no mark on a label, a phone rendering at natural size."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

from routing.dashboards import charts

DAYS = [dt.date(2026, 11, d) for d in range(1, 8)]


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, flags=re.S)


def test_empty_days_are_gaps_not_flat_lines() -> None:
    values = [1.0, 2.0, None, None, -1.0, None, 0.5]
    html = charts.deviation_lines({"Ana": list(zip(DAYS, values))})
    for svg in _svgs(html):
        lines = re.findall(r'<polyline class="series" points="([^"]+)"', svg)
        dots = re.findall(r'<circle class="series-dot"', svg)
        assert len(lines) == 1 and len(lines[0].split()) == 2  # days 1-2 only
        assert len(dots) == 2  # day 5 and day 7 stand alone


def test_a_rep_with_no_days_draws_nothing() -> None:
    html = charts.deviation_lines({"Ana": [(d, None) for d in DAYS]})
    assert "series" not in html


def _texts_and_marks(svg: str) -> tuple[list[float], list[tuple[float, float]]]:
    texts = [float(y) for y in re.findall(r'<text x="[^"]+" y="([^"]+)"', svg)]
    marks = [(float(a), float(b)) for a, b in re.findall(r'<line class="expected" [^>]*y1="([^"]+)" y2="([^"]+)"', svg)]
    marks += [(float(cy) - 4, float(cy) + 4) for cy in re.findall(r'<circle class="target" [^>]*cy="([^"]+)"', svg)]
    return texts, marks


def test_target_and_expected_marks_never_sit_on_a_label() -> None:
    rows = [SimpleNamespace(rep_id=i, name=f"Rep with a fairly long name {i}", actual_share=a, expected_share=e,
                            target_share=t, drift=i == 1)
            for i, (a, e, t) in enumerate([(0.5, 0.45, 1.0), (0.2, 0.3, 0.25), (0.0, 0.25, 0.25)])]  # fmt: skip
    html = charts.share_bars(rows)
    assert len(_svgs(html)) == 2 and 'class="chart-narrow"' in html
    for svg in _svgs(html):
        texts, marks = _texts_and_marks(svg)
        assert marks
        for baseline in texts:  # a 13 px text spans from about baseline - 11 to baseline + 3
            assert all(top > baseline + 3 or bottom < baseline - 11 for top, bottom in marks), (baseline, marks)


def test_the_phone_rendering_fits_390_px_without_scaling() -> None:
    rows = [SimpleNamespace(rep_id=1, name="Ana", actual_share=0.5, expected_share=0.5, target_share=0.5, drift=False)]
    for html in (charts.share_bars(rows), charts.deviation_lines({"Ana": list(zip(DAYS, [1.0] * 7))}),
                 charts.projected_bars([("Ana", 0.5, 0.4)])):
        narrow = _svgs(html)[1]
        assert int(re.search(r'width="(\d+)"', narrow).group(1)) <= 360
        assert min(int(s) for s in re.findall(r'font-size="(\d+)"', narrow)) >= 12
