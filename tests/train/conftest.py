"""Training tests run tiny models: one intra-op thread avoids oversubscribing a loaded machine
(with the default thread count a 30-step run took 16 s instead of 0.4 s on 2 busy cores)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
