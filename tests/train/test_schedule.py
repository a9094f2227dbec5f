import pytest

from rankgraph.train.schedule import warmup_cosine


def test_warmup_then_cosine_to_zero():
    got = [warmup_cosine(s, warmup=2, total=6) for s in range(6)]
    assert got == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.25, 0.0])
