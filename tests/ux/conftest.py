from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> None:
    """routing.snapshots caches the live config by version number; start each test empty."""
    from routing import snapshots

    snapshots._CONFIG_CACHE.clear()
