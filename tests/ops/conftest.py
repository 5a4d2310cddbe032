from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_metric_totals() -> None:
    """The metrics keep per-process sums over settled decisions; test databases roll back under
    them (production databases never do), so every test starts from nothing."""
    from ops.metrics import decision_totals_reset

    decision_totals_reset()
