"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os

# Same reason as rankgraph.cli: spinning OpenMP threads crawl when cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def tiny_tang_crawl(tmp_path: Path) -> Path:
    """A Tang-format crawl folder (one rating .mat, ~6 years of unix times): 120 users, 150
    products in 5 categories, 3000 ratings."""
    import numpy as np
    import scipy.io

    rng = np.random.default_rng(0)
    n = 3000
    users = rng.integers(1, 121, n)
    products = rng.integers(1, 151, n)
    times = np.sort(rng.integers(1_100_000_000, 1_300_000_000, n))
    ratings = np.stack([users, products, products % 5 + 1, rng.integers(1, 6, n), np.full(n, 3), times], 1)
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    scipy.io.savemat(crawl / "tiny_rating_with_timestamp.mat", {"rating": ratings.astype(np.int32)})
    return crawl
