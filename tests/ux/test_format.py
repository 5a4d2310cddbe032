"""Presentation filters (reps/templatetags/leadops_format.py); no database."""

from __future__ import annotations

import pytest

from reps.templatetags.leadops_format import duration, pct


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.304, "30.4%"), (0, "0.0%"), (1, "100.0%"), (0.0526315, "5.3%"), (None, "–"), ("", "–")],
)
def test_pct_shows_a_fraction_as_a_percentage(value, expected: str) -> None:  # noqa: ANN001
    assert pct(value) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0 s"), (45.4, "45 s"), (120, "2 min 00 s"), (754, "12 min 34 s"), (3600, "1 h 00 min"),
     (8557, "2 h 22 min"), (-5, "0 s"), (None, "–")],
)  # fmt: skip
def test_duration_reads_in_the_largest_sensible_units(seconds, expected: str) -> None:  # noqa: ANN001
    assert duration(seconds) == expected
