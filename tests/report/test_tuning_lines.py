"""The report's sentences on tuning name the objective, the tuned betas and the window."""

from __future__ import annotations

from rankgraph.report.writer import _readout_line, _tuning_line


def test_readout_line_names_the_betas_and_the_popularity_window() -> None:
    line = _readout_line({"popularity_readout": {"users": 1.5, "items": 2.0, "recent_fraction": 0.1}})
    assert "beta 1.5 for user->item and 2 for item->item" in line
    assert "the newest 10% of train engagement edges" in line
    assert "all train engagement edges" in _readout_line({"popularity_readout": {"users": 1.0, "items": 0.5}})
    assert _readout_line({}) == ""


def test_tuning_line_names_the_objective_and_its_cross_domain_weight() -> None:
    plain = {"ks": [20, 100], "config": {"evaluate": {"tune_k": None, "tune_cross_domain_weight": 0.0}}}
    assert "tuned for Recall@100 on a validation slice" in _tuning_line(plain)
    weighted = {"ks": [20, 100], "config": {"evaluate": {"tune_k": 20, "tune_cross_domain_weight": 1.0}}}
    assert "tuned for Recall@20 + 1 x its cross-domain slice" in _tuning_line(weighted)
