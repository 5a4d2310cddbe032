from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> None:
    """routing.snapshots caches the parsed RuleSet by version; rolled-back tests reuse version 1."""
    from routing import snapshots

    snapshots._CONFIG_CACHE.clear()
