from __future__ import annotations

import numpy as np

from rankgraph.rank.examples import make_examples
from rankgraph.rank.metrics import logloss
from rankgraph.rank.train import fit, predict, summarize
from rank_worlds import CUT, connect, planted_events, small_config


def test_fit_beats_the_base_rate_on_planted_conversions():
    cfg = small_config()
    cfg.train.epochs = 8
    data = make_examples(connect(planted_events()), CUT, cfg.examples)
    model = fit(data, cfg, "none", seed=0)
    _, p_conv = predict(model, data.train)
    m = data.train.conv_mask
    y = data.train.conv[m]
    assert logloss(y, p_conv[m]) < logloss(y, np.full(y.size, y.mean()))


def test_fit_is_deterministic_for_a_seed():
    cfg = small_config()
    data = make_examples(connect(planted_events()), CUT, cfg.examples)
    a = predict(fit(data, cfg, "none", seed=3), data.test)[0]
    b = predict(fit(data, cfg, "none", seed=3), data.test)[0]
    np.testing.assert_array_equal(a, b)


def test_summarize_pairs_deltas_by_seed():
    def run(v, s, ne):
        return {"variant": v, "seed": s, "metrics": {"click": {"all": {"auc": 0.5, "logloss": ne, "ne": ne, "n": 10}}}}

    runs = [run("none", 0, 0.90), run("none", 1, 0.80), run("add", 0, 0.85), run("add", 1, 0.75)]
    s = summarize(runs)
    d = s["add"]["click"]["all"]["delta_ne"]
    assert abs(d["mean"] + 0.05) < 1e-12 and d["std"] < 1e-12
    # the paired gain (0.05) is smaller than the baseline's seed spread (std 0.0707): not beyond spread
    assert s["add"]["click"]["all"]["beats_spread"] is False
