"""The report's sentence on the popularity read-out names the tuned betas and window."""

from __future__ import annotations

from rankgraph.report.writer import _readout_line


def test_readout_line_names_the_betas_and_the_popularity_window() -> None:
    line = _readout_line({"popularity_readout": {"users": 1.5, "items": 2.0, "recent_fraction": 0.1}})
    assert "beta 1.5 for user->item and 2 for item->item" in line
    assert "the newest 10% of train engagement edges" in line
    assert "all train engagement edges" in _readout_line({"popularity_readout": {"users": 1.0, "items": 0.5}})
    assert _readout_line({}) == ""
